"""The frame checks, in the guide's order; each failing check adds its stable code.

Order (Table 5): multiface -> image quality -> face size and position -> head pose -> eyes ->
mouth -> glasses -> AGS -> liveness -> deepfake -> image modification. Every failing check's code
is reported (most actionable first, i.e. in this order); a threshold of ``None`` disables its
check. Implemented so far: multiface/ROI, image quality, margins, frame size, face size, and
head pose when the estimator measured it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import FrameCheck
from shared.faces import select_main_face
from shared.messages import EstimationMessage, Face, HeadPose, ImageQuality
from shared.settings import Settings, ThresholdSettings


@dataclass(frozen=True, slots=True)
class CheckResult:
    errors: tuple[FrameCheck, ...]
    face: Face | None


def run_checks(estimation: EstimationMessage, settings: Settings) -> CheckResult:
    selection = select_main_face(estimation.faces, estimation.frame_width, estimation.frame_height, settings.roi,
                                 settings.session.multiface_policy)
    errors = list(selection.errors)
    if selection.index is None:
        return CheckResult(tuple(errors), None)
    face = estimation.faces[selection.index]
    limits = settings.thresholds
    analysis = estimation.analysis
    if analysis is not None and analysis.image_quality is not None:
        errors += quality_failures(analysis.image_quality, limits)
    errors += position_failures(face, estimation.frame_width, estimation.frame_height, limits)
    if analysis is not None and analysis.head_pose is not None:
        errors += pose_failures(analysis.head_pose, limits)
    return CheckResult(tuple(errors), face)


def below(score: float, threshold: float | None) -> bool:
    return threshold is not None and score < threshold


def quality_failures(quality: ImageQuality, limits: ThresholdSettings) -> list[FrameCheck]:
    checks = [
        (quality.blur, limits.blur, FrameCheck.BLURRED),
        (quality.light, limits.light, FrameCheck.HIGHLIGHTED),
        (quality.darkness, limits.dark, FrameCheck.DARK),
        (quality.illumination, limits.illumination, FrameCheck.UNEVEN_ILLUMINATION),
        (quality.specularity, limits.specularity, FrameCheck.SPECULAR),
    ]
    return [code for score, threshold, code in checks if below(score, threshold)]


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
