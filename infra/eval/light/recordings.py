"""``vigil eval light --from-recordings DIR``: the same figures on real recorded sessions.

The format is the plugin's recording mode (services/plugins/builtins/light_recorder.py,
``light_challenge.record``): a folder per session holding ``timeline.jsonl`` (one
``shared.light.RecordedFrame`` per frame the plugin saw: arrival time, the page's tags, the steps
issued so far, the verdict) and the frame images it names. Each frame is measured again here by
the estimator's current code (measure.py) and decided again by the current ``LightChallenge``,
fed the recorded sequences in order (a retry's new sequence is the next one), on the recorded
arrival times: so a change of thresholds or measurement is judged on real cameras and rooms.

What a session was (genuine or an attack) is not in the recording: ``label.txt`` in the session's
folder names it, else the folder above it (DIR/genuine/<session>/, DIR/replay/<session>/, ...),
else "unlabelled". Every label but "genuine" and "unlabelled" counts as an attack.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.eval.light.command import document, eval_settings
from infra.eval.light.host import Memory, SessionResult, outcome_of
from infra.eval.light.measure import Estimator
from infra.eval.light.report import write
from services.plugins.builtins.light_challenge import LightChallenge
from services.plugins.builtins.light_recorder import TIMELINE
from shared.light import LightStep, RecordedFrame
from shared.messages import ClientInfo, LightSupport, PluginVerdict
from shared.plugin_protocol import Verdict
from shared.settings import Settings

REAL = "REAL RECORDINGS: real cameras and rooms, decided again by the current code"
NOT_ATTACKS = ("genuine", "unlabelled")


@dataclass(frozen=True)
class Recorded:
    folder: Path
    label: str
    frames: list[RecordedFrame]

    def sequences(self) -> list[list[LightStep]]:
        """The sequences the server drew, in order: the longest issued list seen per retry."""
        longest: dict[int, list[LightStep]] = {}
        for frame in self.frames:
            steps = [issued.step for issued in frame.issued]
            if len(steps) > len(longest.get(frame.retries, [])):
                longest[frame.retries] = steps
        return [longest[k] for k in sorted(longest)]


def load(root: Path) -> list[Recorded]:
    sessions = []
    for timeline in sorted(root.rglob(TIMELINE)):
        folder = timeline.parent
        label_file = folder / "label.txt"
        label = (label_file.read_text().strip() if label_file.is_file()
                 else folder.parent.name if folder.parent != root else "unlabelled")
        frames = [RecordedFrame.model_validate_json(line) for line in timeline.read_text().splitlines() if line.strip()]
        sessions.append(Recorded(folder, label or "unlabelled", frames))
    return sessions


class Replayed(LightChallenge):
    """The plugin, drawing the recorded sequences instead of fresh ones."""

    def __init__(self, settings: Settings, sequences: list[list[LightStep]]) -> None:
        super().__init__(settings)
        self.recorded = list(sequences)

    def draw(self) -> list[LightStep]:
        return self.recorded.pop(0) if self.recorded else super().draw()


async def replay(estimator: Estimator, settings: Settings, session: Recorded) -> tuple[SessionResult, bool]:
    """The session decided again, and whether the decision is the recorded one."""
    plugin, memory = Replayed(settings, session.sequences()), Memory()
    verdict: Verdict | None = None
    started: float | None = None
    received, seen = 0.0, 0
    for frame in session.frames:
        if frame.image is None or not (session.folder / frame.image).is_file():
            continue
        client = ClientInfo(frame_time_ms=frame.frame_time_ms, mirrored=frame.mirrored,
                            light=LightSupport(frame.light) if frame.light else None, light_step=frame.light_step,
                            light_painted_ms=frame.light_painted_ms)
        estimation = estimator.estimate((session.folder / frame.image).read_bytes(), session_id=session.folder.name,
                                        frame_no=frame.frame_no, received_at=frame.received_at, client=client)
        if estimation.main_face is None:
            continue
        seen, received = seen + 1, frame.received_at
        verdict = await plugin.evaluate(estimation, memory)
        if verdict.light is not None and started is None:
            started = received
        if verdict.verdict is not PluginVerdict.PENDING:
            break
    outcome, reason = outcome_of(verdict)
    details = verdict.details if verdict is not None else {}
    took = None if started is None or outcome == "no_decision" else round(received - started, 3)
    result = SessionResult(variant=session.label, medium=session.folder.name, ambient_lux=float("nan"),
                           outcome=outcome, reason=reason, retries=int(details.get("retries", 0)), frames=seen,
                           challenge_s=took, mixed_frames=0, mismatched_frames=0,
                           cues={k: v for k, v in details.items() if k != "retries"}, draw=None)
    recorded = session.frames[-1].verdict if session.frames else None
    return result, verdict is not None and recorded == verdict.verdict.value


def evaluate_recordings(root: Path, out: Path) -> dict[str, Any]:
    settings = eval_settings()
    estimator, started = Estimator(settings), time.time()
    sessions = load(root)
    replayed = [asyncio.run(replay(estimator, settings, s)) for s in sessions]
    entries = [(s.label, s.label not in NOT_ATTACKS, result) for s, (result, _) in zip(sessions, replayed, strict=True)]
    run = {"recordings": str(root), "sessions": len(sessions), "wall_s": round(time.time() - started, 1),
           "same_verdict_as_recorded": sum(same for _, same in replayed)}
    report = document(entries, None, settings, run, label=REAL)
    write(report, out)
    return report
