"""The per-frame checks, in the guide's order; each failing check adds its stable code.

Order (Table 5): multiface -> image quality -> face size and position -> head pose -> eyes ->
mouth -> glasses -> AGS, then liveness -> deepfake -> image modification (aggregated over frames,
services/decider/aggregate.py). Every failing code is reported, in this order (most actionable
first); a threshold of ``None`` disables its check, and a check whose estimation the estimator
did not produce is skipped here (the aggregation then fails closed where it matters).

*Gate* checks (multiface, quality, position, pose, AGS) decide whether a frame enters the
aggregation window; eyes, mouth and glasses are reported on every frame for prompting and
aggregated over the window, so one blink does not undo a session.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import FrameCheck
from shared.faces import select_main_face
from shared.messages import (
    EstimationMessage,
    Eyes,
    EyeState,
    Face,
    FaceAnalysis,
    Glasses,
    HeadPose,
    Mouth,
)
from shared.settings import Settings, ThresholdSettings
from shared.thresholds import below, quality_failures


@dataclass(frozen=True, slots=True)
class CheckResult:
    gate: tuple[FrameCheck, ...]  # failures that keep the frame out of the aggregation window
    soft: tuple[FrameCheck, ...]  # eyes / mouth / glasses failures on this frame
    face: Face | None

    @property
    def errors(self) -> tuple[FrameCheck, ...]:
        return tuple(sorted(self.gate + self.soft))


def run_checks(estimation: EstimationMessage, settings: Settings) -> CheckResult:
    selection = select_main_face(estimation.faces, estimation.frame_width, estimation.frame_height, settings.roi,
                                 settings.session.multiface_policy)
    gate = list(selection.errors)
    if selection.index is None:
        return CheckResult(tuple(gate), (), None)
    face = estimation.faces[selection.index]
    limits = settings.thresholds
    analysis = estimation.analysis or FaceAnalysis()
    if analysis.image_quality is not None:
        gate += quality_failures(analysis.image_quality, limits)
    gate += position_failures(face, estimation.frame_width, estimation.frame_height, limits)
    if analysis.head_pose is not None:
        gate += pose_failures(analysis.head_pose, limits)
    if analysis.ags is not None and below(analysis.ags, limits.ags):
        gate.append(FrameCheck.LOW_QUALITY)
    soft: list[FrameCheck] = []
    if analysis.eyes is not None and not eyes_ok(analysis.eyes, settings.session.accept_one_eye_open):
        soft.append(FrameCheck.EYES_CLOSED)
    if analysis.mouth is not None:
        soft += mouth_failures(analysis.mouth, limits)
    if analysis.eyeglasses is not None and analysis.eyeglasses.value not in limits.glasses:
        soft.append(FrameCheck.SUNGLASSES if analysis.eyeglasses is Glasses.SUNGLASSES else FrameCheck.EYEGLASSES)
    return CheckResult(tuple(gate), tuple(soft), face)


def eyes_ok(eyes: Eyes, accept_one_eye_open: bool) -> bool:
    open_count = (eyes.left is EyeState.OPEN) + (eyes.right is EyeState.OPEN)
    return open_count == 2 or (accept_one_eye_open and open_count == 1)


def mouth_failures(mouth: Mouth, limits: ThresholdSettings) -> list[FrameCheck]:
    if limits.mouth is None:
        return []
    failures = []
    if mouth.opened > limits.mouth:
        failures.append(FrameCheck.MOUTH_OPEN)
    if mouth.occluded > limits.mouth:
        failures.append(FrameCheck.MOUTH_OCCLUDED)
    return failures


def position_failures(face: Face, width: int, height: int, limits: ThresholdSettings) -> list[FrameCheck]:
    failures = []
    box = face.box
    if limits.margin is not None:
        margins = [
            (box.x, FrameCheck.FACE_TOO_CLOSE_TO_LEFT),
            (box.y, FrameCheck.FACE_TOO_CLOSE_TO_TOP),
            (width - box.x - box.width, FrameCheck.FACE_TOO_CLOSE_TO_RIGHT),
            (height - box.y - box.height, FrameCheck.FACE_TOO_CLOSE_TO_BOTTOM),
        ]
        failures += [code for margin, code in margins if margin < limits.margin]
    if (limits.min_frame_width is not None and width < limits.min_frame_width) or (
        limits.min_frame_height is not None and height < limits.min_frame_height
    ):
        failures.append(FrameCheck.FRAME_TOO_SMALL)
    if (limits.face_width is not None and box.width < limits.face_width) or (
        limits.face_height is not None and box.height < limits.face_height
    ):
        failures.append(FrameCheck.FACE_TOO_SMALL)
    return failures


def pose_failures(pose: HeadPose, limits: ThresholdSettings) -> list[FrameCheck]:
    checks = [
        (pose.yaw, limits.yaw, FrameCheck.YAW_TOO_LARGE),
        (pose.pitch, limits.pitch, FrameCheck.PITCH_TOO_LARGE),
        (pose.roll, limits.roll, FrameCheck.ROLL_TOO_LARGE),
    ]
    return [code for angle, limit, code in checks if limit is not None and abs(angle) > limit]
