"""LightChallenge: a random colour sequence on the screen whose reflection must come back on the
face, at the right moment and on the right side (docs/plugins.md; the arithmetic is in
light_correlator.py, the vocabulary and the photosensitivity rules in shared/light.py).

Per session a sequence is drawn from the operating system's secure random source: a white
baseline, then ``min_steps``..``max_steps`` steps of ``min_step_ms``..``max_step_ms``. The
sequence never leaves the server ahead of time: each frame's verdict carries only the step the
page must paint now (``Verdict.light``, sent in that frame's STATS). A step is replaced by the
next once its duration has passed *and* a frame was captured under it. The clock is the frames'
arrival time, never this process's, so a replay of recorded sessions decides the same way.

Paths: a page that cannot show light (no ``light`` header) or a person who declines it goes the
no-light path when ``allow_decline`` (PASS without the "light" defence, the actions remain), else
the session ends with 103. Too weak a reflection (a bright room) is prompted (101) with a fresh
sequence, ``max_retries`` times, then the same no-light rule. A reflection that does not match
ends the session (102), not marked fake: the thresholds are provisional (SIMULATED evaluation).
"""

from __future__ import annotations

import secrets
from enum import StrEnum

from pydantic import BaseModel

from services.plugins.builtins.light_correlator import Observation, Outcome, ShapeEvidence, correlate
from services.plugins.builtins.light_recorder import LightRecorder
from shared.api import EstimationMessage, FrameCheck, PluginVerdict, SessionMemory, Settings, Verdict
from shared.light import IssuedStep, LightPattern, LightStep, draw_sequence
from shared.messages import Defence, LightInstruction, LightSupport
from shared.plugins import LIGHT_CHALLENGE

# Evidence too weak to call either way: a fresh sequence (more light, more split steps), then the
# no-light path. A late response (an injected stream) or a whole-frame tint is contradicted by the
# physics outright and ends the session.
INCONCLUSIVE = frozenset({Outcome.TOO_WEAK, Outcome.UNMEASURED, Outcome.SHAPE})
MIN_SPLIT_STEPS = 2  # the spatial check needs at least two split steps to mean anything
BASELINE_OBSERVATIONS = 2  # frames under the white step before the first colour


class Phase(StrEnum):
    RUNNING = "running"
    PASSED = "passed"
    SKIPPED = "skipped"  # the no-light path: declined, not shown, or too weak after every retry


class LightMemory(BaseModel):
    sequence: list[LightStep]
    issued: list[IssuedStep] = []
    observations: list[Observation] = []
    phase: Phase = Phase.RUNNING
    retries: int = 0
    # The shape evidence of earlier sequences (retries): judged together with the current one's.
    shapes: list[ShapeEvidence] = []
    # The head pose of the first measured frame: frames turned away from it are not used.
    pose: tuple[float, float] | None = None


class LightChallenge:
    name = LIGHT_CHALLENGE

    def __init__(self, settings: Settings) -> None:
        self.options = settings.light_challenge
        self.random = secrets.SystemRandom()
        self.recorder = LightRecorder(self.options.recordings_path) if self.options.record else None

    def draw(self) -> list[LightStep]:
        options = self.options
        while True:
            steps = draw_sequence(self.random, count=self.random.randint(options.min_steps, options.max_steps),
                                  min_ms=options.min_step_ms, max_ms=options.max_step_ms,
                                  baseline_ms=options.baseline_ms, split_share=options.split_share,
                                  vertical_share=options.vertical_split_share)
            # The shape is judged on the left/right splits (light_correlator.JUDGED_AXIS).
            splits = sum(step.pattern is LightPattern.LEFT_RIGHT for step in steps)
            if splits >= MIN_SPLIT_STEPS or options.split_share == 0 or options.vertical_split_share == 1:
                return steps

    async def evaluate(self, estimation: EstimationMessage, memory: SessionMemory) -> Verdict:
        state = await memory.load(LightMemory) or LightMemory(sequence=self.draw())
        verdict = self.advance(state, estimation)
        await memory.save(state)
        if self.recorder is not None:
            await self.recorder.record(estimation, state.issued, state.retries, verdict.verdict.value)
        return verdict

    def advance(self, state: LightMemory, estimation: EstimationMessage) -> Verdict:
        """Moves ``state`` along with this frame (mutates it) and says where the session stands."""
        if state.phase is Phase.PASSED:
            return Verdict(PluginVerdict.PASS, defence=Defence.LIGHT)
        if state.phase is Phase.SKIPPED:
            return Verdict(PluginVerdict.PASS)
        support = estimation.client.light if estimation.client is not None else None
        if support is not LightSupport.SHOWN:
            return self._no_light(state, FrameCheck.LIGHT_REQUIRED, "declined" if support else "not shown")
        if state.issued:
            self._observe(state, estimation)
        now = estimation.received_at
        if not state.issued:
            return self._issue(state, 0, estimation)
        current = state.issued[-1]
        under_current = [o for o in state.observations if o.frame_no > current.frame_no]
        needed = BASELINE_OBSERVATIONS if current.step.index == 0 else 1
        if now - current.at < current.step.duration_ms / 1000 or len(under_current) < needed:
            return self._pending(state)
        if current.step.index + 1 < len(state.sequence):
            return self._issue(state, current.step.index + 1, estimation)
        return self._decide(state, estimation)

    def _observe(self, state: LightMemory, estimation: EstimationMessage) -> None:
        client, analysis = estimation.client, estimation.analysis
        sample = analysis.light if analysis is not None else None
        pose = analysis.head_pose if analysis is not None else None
        if sample is not None and pose is not None:
            if state.pose is None:
                state.pose = (pose.yaw, pose.pitch)
            turned = max(abs(pose.yaw - state.pose[0]), abs(pose.pitch - state.pose[1]))
            if turned > self.options.max_pose_change_deg:
                sample = None
        # The page's tag counts only if it names a step already sent, and not one superseded long ago.
        sent = [issue.step.index for issue in state.issued if issue.frame_no < estimation.frame_no]
        tag = client.light_step if client is not None else None
        shown = tag if sent and tag is not None and tag in sent[-1 - self.options.max_lag_frames - 1:] else None
        # The page's capture and paint times count with the tag they belong to.
        captured, painted = (client.frame_time_ms, client.light_painted_ms) if client and shown is not None else (
            None, None)
        state.observations.append(Observation(frame_no=estimation.frame_no, at=estimation.received_at, shown=shown,
                                              sample=sample, captured_ms=captured, painted_ms=painted))

    def _issue(self, state: LightMemory, index: int, estimation: EstimationMessage) -> Verdict:
        state.issued.append(IssuedStep(step=state.sequence[index], frame_no=estimation.frame_no,
                                        at=estimation.received_at))
        return self._pending(state)

    def _pending(self, state: LightMemory, *codes: FrameCheck) -> Verdict:
        step = state.issued[-1].step
        instruction = LightInstruction(step=step.index, total=len(state.sequence) - 1, pattern=step.pattern,
                                       colors=step.colors, duration_ms=step.duration_ms,
                                       declinable=self.options.allow_decline)
        return Verdict(PluginVerdict.PENDING, codes=(*codes, FrameCheck.LIGHT_HOLD_STILL), light=instruction,
                       details={"step": float(step.index), "retries": float(state.retries)})

    def _decide(self, state: LightMemory, estimation: EstimationMessage) -> Verdict:
        result = correlate(state.issued, state.observations, self.options, state.shapes)
        details = {**result.cues, "retries": float(state.retries)}
        if result.outcome is Outcome.PASS:
            state.phase = Phase.PASSED
            return Verdict(PluginVerdict.PASS, defence=Defence.LIGHT, details=details)
        if result.outcome in INCONCLUSIVE:
            if result.shape is not None:
                state.shapes.append(result.shape)
            if state.retries < self.options.max_retries:
                state.retries += 1
                # A fresh sequence, baseline and reference pose: the person may have settled differently.
                state.sequence, state.issued, state.observations, state.pose = self.draw(), [], [], None
                self._issue(state, 0, estimation)
                return self._pending(state, FrameCheck.LIGHT_TOO_WEAK)
            code = FrameCheck.LIGHT_FAILED if result.outcome is Outcome.SHAPE else FrameCheck.LIGHT_TOO_WEAK
            return self._no_light(state, code, result.outcome.value, details)
        return Verdict(PluginVerdict.END, codes=(FrameCheck.LIGHT_FAILED,), details=details,
                       announce=f"light challenge failed: {result.outcome.value}")

    def _no_light(self, state: LightMemory, code: FrameCheck, why: str,
                  details: dict[str, float] | None = None) -> Verdict:
        if not self.options.allow_decline:
            return Verdict(PluginVerdict.END, codes=(code,), details=details or {},
                           announce=f"light challenge required: {why}")
        state.phase = Phase.SKIPPED
        return Verdict(PluginVerdict.PASS, details={**(details or {}), "light_skipped": 1.0},
                       announce=f"light challenge skipped: {why}")

