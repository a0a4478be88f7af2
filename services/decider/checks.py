"""The frame checks, in the guide's order; each failing check adds its stable code.

Implemented so far: multiface (with ``multiface_policy``), ROI, frame size and face size. The
image-quality, pose, eyes, mouth, glasses, AGS, liveness, deepfake and image-modification checks
follow the estimator's estimations as they land (issues 3-4).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import FrameCheck
from shared.messages import EstimationMessage, Face
from shared.settings import MultifacePolicy, RoiSettings, Settings


@dataclass(frozen=True, slots=True)
class CheckResult:
    errors: tuple[FrameCheck, ...]
    face: Face | None


def run_checks(estimation: EstimationMessage, settings: Settings) -> CheckResult:
    face, errors = select_main_face(estimation, settings)
    if face is None:
        return CheckResult(tuple(errors), None)
    limits = settings.thresholds
    if (limits.min_frame_width is not None and estimation.frame_width < limits.min_frame_width) or (
        limits.min_frame_height is not None and estimation.frame_height < limits.min_frame_height
    ):
        errors.append(FrameCheck.FRAME_TOO_SMALL)
    if (limits.face_width is not None and face.box.width < limits.face_width) or (
        limits.face_height is not None and face.box.height < limits.face_height
    ):
        errors.append(FrameCheck.FACE_TOO_SMALL)
    return CheckResult(tuple(errors), face)


def select_main_face(estimation: EstimationMessage, settings: Settings) -> tuple[Face | None, list[FrameCheck]]:
    """The face to check, chosen by ``multiface_policy`` among the faces inside the ROI."""
    if not estimation.faces:
        return None, [FrameCheck.NO_FACE]
    roi = settings.roi
    inside = [f for f in estimation.faces if _centre_in_roi(f, roi, estimation.frame_width, estimation.frame_height)]
    policy = settings.session.multiface_policy
    if policy is MultifacePolicy.ONLY_ONE and len(estimation.faces) > 1:
        return max(estimation.faces, key=_area), [FrameCheck.MULTIPLE_FACES]
    if not inside:
        return max(estimation.faces, key=_area), [FrameCheck.FACE_OUTSIDE_ROI]
    if policy is MultifacePolicy.CLOSEST_TO_CENTER:
        cx, cy = roi.center_x * estimation.frame_width, roi.center_y * estimation.frame_height
        return min(inside, key=lambda f: _distance2(f, cx, cy)), []
    return max(inside, key=_area), []


def _area(face: Face) -> float:
    return face.box.width * face.box.height


def _centre(face: Face) -> tuple[float, float]:
    return face.box.x + face.box.width / 2, face.box.y + face.box.height / 2


def _distance2(face: Face, x: float, y: float) -> float:
    fx, fy = _centre(face)
    return (fx - x) ** 2 + (fy - y) ** 2


def _centre_in_roi(face: Face, roi: RoiSettings, width: int, height: int) -> bool:
    fx, fy = _centre(face)
    left = (roi.center_x - roi.width / 2) * width
    top = (roi.center_y - roi.height / 2) * height
    return left <= fx <= left + roi.width * width and top <= fy <= top + roi.height * height
