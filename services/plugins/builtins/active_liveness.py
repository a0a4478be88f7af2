"""ActiveLiveness: random, server-chosen actions that a pre-recorded video cannot know.

Per session, ``interaction_count`` actions are drawn from ``interaction_list`` with the
operating system's secure random source (or taken in list order with ``interaction_order =
fixed``). Each action runs the guide's state machine:

* blink: eyes open -> closed -> open (one eye counts with ``accept_one_eye_open``);
* yaw_left / yaw_right: |yaw| below ``yaw_start_deg`` -> beyond ``yaw_threshold_deg`` in that
  direction -> back below ``yaw_start_deg``; pitch_up / pitch_down likewise with the pitch angles.
  Angles are measured from the person's own frontal pose (their first roughly frontal frame).
  The frame beyond the threshold counts only if the estimator's parallax residual reaches
  ``parallax_min_residual``: a flat photo tilted in 3-D can make the pose solver report 30-54
  degrees, but its landmarks move by one homography;
* smile / mouth_open: the score rises above its threshold, then falls back.

While an action is pending, every frame's verdict is PENDING with the action's prompt code and
the progress (done, total). An action not done within ``interaction_timeout_s`` is reported
(code 97) and replaced by a newly drawn one that is not pending already; after ``max_timeouts``
timeouts the session ends (a recording keeps timing out). After the last action,
``cooldown_frames_count`` more frames pass before the verdict is PASS.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from pydantic import BaseModel

from shared.api import (
    EstimationMessage,
    EyeState,
    FaceAnalysis,
    FrameCheck,
    PluginVerdict,
    SessionMemory,
    Settings,
    Verdict,
)
from shared.messages import Defence
from shared.plugins import ACTIVE_LIVENESS
from shared.settings import ActiveLivenessSettings, Interaction

PROMPTS = {
    Interaction.BLINK: FrameCheck.ACTION_BLINK,
    Interaction.YAW_LEFT: FrameCheck.ACTION_YAW_LEFT,
    Interaction.YAW_RIGHT: FrameCheck.ACTION_YAW_RIGHT,
    Interaction.PITCH_UP: FrameCheck.ACTION_PITCH_UP,
    Interaction.PITCH_DOWN: FrameCheck.ACTION_PITCH_DOWN,
    Interaction.SMILE: FrameCheck.ACTION_SMILE,
    Interaction.MOUTH_OPEN: FrameCheck.ACTION_MOUTH_OPEN,
}
# Phases of every action: 0 waiting for the neutral start, 1 waiting for the action's peak,
# 2 waiting for the return to neutral.
START, PEAK, RETURN = 0, 1, 2


class ChallengeMemory(BaseModel):
    sequence: list[Interaction]
    index: int = 0
    phase: int = START
    started_at: float
    cooldown_left: int
    timeouts: int = 0
    # The person's own frontal pose (yaw, pitch), from their first roughly frontal frame: people
    # hold their head or camera differently (measured frontal pitch -9 vs +9 degrees), so turns and
    # tilts are measured from it, not from the camera axis.
    baseline: tuple[float, float] | None = None


class ActiveLiveness:
    name = ACTIVE_LIVENESS

    def __init__(self, settings: Settings) -> None:
        self.options = settings.active_liveness
        self.random = secrets.SystemRandom()

    def draw(self, count: int, exclude: Sequence[Interaction] = ()) -> list[Interaction]:
        choices = [i for i in self.options.interaction_list if i not in exclude] or list(self.options.interaction_list)
        if self.options.interaction_order == "fixed":
            return choices[:count]
        return self.random.sample(choices, min(count, len(choices)))

    async def evaluate(self, estimation: EstimationMessage, memory: SessionMemory) -> Verdict:
        state = await memory.load(ChallengeMemory)
        if state is None:
            state = ChallengeMemory(sequence=self.draw(self.options.interaction_count),
                                    started_at=estimation.received_at,
                                    cooldown_left=self.options.cooldown_frames_count)
        verdict = self.advance(state, estimation)
        await memory.save(state)
        return verdict

    def timeout_s(self, estimation: EstimationMessage) -> float:
        """An action's time: the operator's, times the extra time the person asked for (CONNECT
        ``time-scale``), up to the operator's cap (``max_time_scale``)."""
        asked = estimation.client.time_scale if estimation.client is not None else 1.0
        return self.options.interaction_timeout_s * min(asked, self.options.max_time_scale)

    def advance(self, state: ChallengeMemory, estimation: EstimationMessage) -> Verdict:
        """Moves ``state`` along with this frame (mutates it) and says where the session stands."""
        total = len(state.sequence)
        if state.index >= total:
            if state.cooldown_left > 0:
                state.cooldown_left -= 1
                return Verdict(PluginVerdict.PENDING, progress=(total, total))
            return Verdict(PluginVerdict.PASS, progress=(total, total), defence=Defence.ACTIONS)
        if estimation.client is not None and estimation.client.light_step is not None:
            state.started_at = estimation.received_at  # the light challenge runs: the action waits
            return Verdict(PluginVerdict.PENDING, progress=(state.index, total), details={"held": 1.0})
        codes: tuple[FrameCheck, ...] = ()
        if estimation.received_at - state.started_at > self.timeout_s(estimation):
            # Too slow (or a recording that cannot follow): a new action, freshly drawn, never one
            # still pending (a replay with two blinks would otherwise answer two "blink" prompts).
            state.timeouts += 1
            if state.timeouts > self.options.max_timeouts:
                return Verdict(PluginVerdict.END, codes=(FrameCheck.ACTION_TIMED_OUT,), progress=(state.index, total),
                               details={"timeouts": float(state.timeouts)})
            state.sequence[state.index] = self.draw(1, exclude=state.sequence[state.index:])[0]
            state.phase, state.started_at = START, estimation.received_at
            codes = (FrameCheck.ACTION_TIMED_OUT,)
        analysis = estimation.analysis or FaceAnalysis()
        pose = analysis.head_pose
        if state.baseline is None and pose is not None and abs(pose.yaw) < self.options.yaw_start_deg \
                and abs(pose.pitch) < 2 * self.options.pitch_start_deg:
            state.baseline = (pose.yaw, pose.pitch)
        state.phase = step(state.sequence[state.index], state.phase, analysis, self.options, state.baseline)
        details = {"phase": float(state.phase), "timeouts": float(state.timeouts)}
        if state.phase > RETURN:
            state.index, state.phase, state.started_at = state.index + 1, START, estimation.received_at
            if state.index >= total:
                return self.advance(state, estimation)
        return Verdict(PluginVerdict.PENDING, codes=(*codes, PROMPTS[state.sequence[state.index]]),
                       progress=(state.index, total), details=details)


def step(action: Interaction, phase: int, analysis: FaceAnalysis, options: ActiveLivenessSettings,
         baseline: tuple[float, float] | None = None) -> int:
    """The phase after this frame; RETURN + 1 means the action is done."""
    neutral, peak = _signals(action, analysis, options, baseline or (0.0, 0.0))
    if neutral is None or peak is None:
        return phase  # not measured on this frame: no progress, no regression
    if phase == START:
        return PEAK if neutral else START
    if phase == PEAK:
        return RETURN if peak else PEAK
    return RETURN + 1 if neutral else RETURN


def _signals(action: Interaction, analysis: FaceAnalysis, options: ActiveLivenessSettings,
             baseline: tuple[float, float]) -> tuple[bool | None, bool | None]:
    """(is the face neutral for this action, is it at the action's peak) on this frame."""
    if action is Interaction.BLINK:
        eyes = analysis.eyes
        if eyes is None:
            return None, None
        open_count = (eyes.left is EyeState.OPEN) + (eyes.right is EyeState.OPEN)
        need = 1 if options.accept_one_eye_open else 2
        return open_count >= need, open_count <= 2 - need
    if action in (Interaction.SMILE, Interaction.MOUTH_OPEN):
        if analysis.mouth is None:
            return None, None
        smile = action is Interaction.SMILE
        score = analysis.mouth.smile if smile else analysis.mouth.opened
        threshold = options.smile_threshold if smile else options.mouth_open_threshold
        return score < threshold, score >= threshold
    pose = analysis.head_pose
    if pose is None:
        return None, None
    yaw_turn = action in (Interaction.YAW_LEFT, Interaction.YAW_RIGHT)
    angle = pose.yaw - baseline[0] if yaw_turn else pose.pitch - baseline[1]
    start = options.yaw_start_deg if yaw_turn else options.pitch_start_deg
    threshold = options.yaw_threshold_deg if yaw_turn else options.pitch_threshold_deg
    sign = 1 if action in (Interaction.YAW_LEFT, Interaction.PITCH_UP) else -1
    beyond = angle * sign >= threshold
    if beyond and options.parallax_min_residual is not None:
        beyond = analysis.parallax is not None and analysis.parallax >= options.parallax_min_residual
    return abs(angle) < start, beyond
