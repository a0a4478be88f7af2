"""Which face a frame is about: the contract both the estimator and the decider apply.

``multiface_policy`` (guide, Table 12): 0 only one face allowed (several -> MULTIPLE_FACES),
1 the largest face, 2 the face closest to the ROI centre; only faces whose centre lies inside
the ROI (Table 13, fractions of the frame) are candidates.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import FrameCheck
from shared.messages import Face
from shared.settings import MultifacePolicy, RoiSettings


@dataclass(frozen=True, slots=True)
class Selection:
    index: int | None
    errors: tuple[FrameCheck, ...]


def select_main_face(faces: tuple[Face, ...], width: int, height: int, roi: RoiSettings,
                     policy: MultifacePolicy) -> Selection:
    if not faces:
        return Selection(None, (FrameCheck.NO_FACE,))
    largest = max(range(len(faces)), key=lambda i: _area(faces[i]))
    if policy is MultifacePolicy.ONLY_ONE and len(faces) > 1:
        return Selection(largest, (FrameCheck.MULTIPLE_FACES,))
    inside = [i for i in range(len(faces)) if _centre_in_roi(faces[i], roi, width, height)]
    if not inside:
        return Selection(largest, (FrameCheck.FACE_OUTSIDE_ROI,))
    if policy is MultifacePolicy.CLOSEST_TO_CENTER:
        cx, cy = roi.center_x * width, roi.center_y * height
        return Selection(min(inside, key=lambda i: _distance2(faces[i], cx, cy)), ())
    return Selection(max(inside, key=lambda i: _area(faces[i])), ())


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
