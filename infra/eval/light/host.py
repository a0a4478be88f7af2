"""The plugin's side of a simulated or replayed session: its memory in this process, a seeded
stand-in for its secure random source, and what its last verdict means for the figures."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from pydantic import BaseModel

from infra.eval.light.params import SessionDraw
from shared.errors import FrameCheck
from shared.messages import Defence, PluginVerdict
from shared.plugin_protocol import StateT, Verdict


@dataclass(frozen=True)
class SessionResult:
    variant: str
    medium: str
    ambient_lux: float
    outcome: str  # pass | refused | skipped (the no-light path) | ended (another code) | no_decision
    reason: str  # the plugin's announcement or the codes
    retries: int
    frames: int
    challenge_s: float | None  # server clock: the first light step sent -> the decision
    mixed_frames: int  # exposure straddled a change of the panel
    mismatched_frames: int  # the panel showed another step than the frame's tag mid-exposure
    cues: dict[str, float]
    draw: SessionDraw | None  # None: a real recorded session


class Memory:
    """The plugin's session memory, in this process."""

    def __init__(self) -> None:
        self.raw: str | None = None

    async def load(self, model: type[StateT]) -> StateT | None:
        return None if self.raw is None else model.model_validate_json(self.raw)

    async def save(self, state: BaseModel) -> None:
        self.raw = state.model_dump_json()


class SeededRandom(secrets.SystemRandom):
    """The plugin draws its sequences from SystemRandom: a seeded stand-in keeps runs reproducible."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.inner = random.Random(seed)

    def random(self) -> float:
        return self.inner.random()

    def getrandbits(self, k: int) -> int:
        return self.inner.getrandbits(k)


def outcome_of(verdict: Verdict | None) -> tuple[str, str]:
    """(outcome, reason) of a session's last verdict (see ``SessionResult.outcome``)."""
    if verdict is None or verdict.verdict is PluginVerdict.PENDING:
        return "no_decision", ",".join(str(int(c)) for c in verdict.codes) if verdict else "no face"
    if verdict.verdict is PluginVerdict.PASS:
        skipped = (verdict.announce or "").rpartition(": ")[2] or "no light"
        return ("pass", "light") if verdict.defence is Defence.LIGHT else ("skipped", skipped)
    why = (verdict.announce or "").rpartition(": ")[2]
    refused = FrameCheck.LIGHT_FAILED in verdict.codes
    return ("refused" if refused else "ended"), why or ",".join(str(int(c)) for c in verdict.codes)
