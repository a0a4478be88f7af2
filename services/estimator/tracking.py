"""Following the main face from frame to frame with the face mesh, instead of detecting it anew.

YuNet costs ~4.5 ms of a frame's ~25 ms (docs/capacity.md). As MediaPipe's own face pipeline
does, the face mesh of one frame places the crop for the next: the detector runs on a session's
frame only every ``estimator.detect_every`` frames, on frames due for a descriptor, when the
previous frame was not analysed, and when the mesh loses the face or finds it too far from where
the crop expected it. The detector's last box and keypoints are kept relative to that frame's
landmarks (a ``FaceAnchor``: the box against the landmarks' bounding box, each keypoint against
its mesh counterpart) and carried by each new mesh; the face an estimation reports is the
detector's box carried onto *this* frame's landmarks, so the checks read the face where it is,
not where it was.

What a followed frame does not see: a second face that appears after the last detection (the
other faces are reported as the detector last saw them, at most ``detect_every - 1`` frames old)
and a change of the detector's score (the last one is kept).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.estimator.model import RGBImage
from services.estimator.models.face_mesh import FaceMesh, FaceMeshModel, FloatArray, roll_of
from services.estimator.parallax import Reference
from shared.faces import select_main_face
from shared.messages import Face, Rect
from shared.settings import Settings
from shared.stored import FaceAnchor

# MediaPipe's face landmark graph drops its track below this face-presence probability
# (``min_tracking_confidence``'s default): the detector then runs on the same frame.
MIN_TRACKING_SCORE = 0.5
# Frames come 200 ms apart, not MediaPipe's 33: the face may have moved far from the crop the
# previous frame placed. Beyond these, the landmarks came from a crop too far off (the mesh wants
# the face centred, at the crop's scale and upright: it degrades quickly with roll), so the
# detector runs on the frame instead.
MAX_SHIFT = 0.2  # of the face's width, between the crop's face and the face found in it
MAX_SCALE = 1.25  # width ratio, either way
MAX_ROLL_DEG = 15.0
# The mesh's counterparts of the detector's five keypoints (right eye, left eye, nose tip, right
# and left mouth corners; "right" is the subject's): each eye by its two corners' midpoint.
MESH_KEYPOINTS = ((33, 133), (362, 263), (1,), (61,), (291,))


def _frame_of(landmarks: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """The landmarks' bounding box (centre, size) and its width, the unit the anchor is kept in."""
    points = landmarks[:, :2]
    low, high = points.min(axis=0), points.max(axis=0)
    return (low + high) / 2, high - low, max(float(high[0] - low[0]), 1e-6)


def _mesh_keypoints(landmarks: FloatArray) -> FloatArray:
    points = landmarks[:, :2]
    return np.stack([points[list(ids)].mean(axis=0) for ids in MESH_KEYPOINTS])


def anchor_for(face: Face, others: Sequence[Face], landmarks: FloatArray, frame_no: int) -> FaceAnchor:
    """The detector's ``face`` on frame ``frame_no``, kept relative to that frame's landmarks: its
    box against their bounding box, its keypoints against their mesh counterparts."""
    centre, size, unit = _frame_of(landmarks)
    box = face.box
    offset = (np.array([box.x + box.width / 2, box.y + box.height / 2]) - centre) / size
    keypoints = (np.asarray(face.keypoints, dtype=np.float32) - _mesh_keypoints(landmarks)) / unit
    return FaceAnchor(detected_at=frame_no, centre=(float(offset[0]), float(offset[1])),
                      size=(box.width / float(size[0]), box.height / float(size[1])),
                      keypoints=tuple((float(x), float(y)) for x, y in keypoints), score=face.score,
                      others=tuple(others))


def carried(anchor: FaceAnchor, landmarks: FloatArray, width: int, height: int) -> Face | None:
    """The anchored face on the frame of these landmarks, its box clipped to the frame as the
    detector's are; None when its centre has left the frame."""
    centre, size, unit = _frame_of(landmarks)
    cx, cy = (float(v) for v in centre + np.asarray(anchor.centre) * size)
    if not (0 <= cx < width and 0 <= cy < height):
        return None
    half_w, half_h = anchor.size[0] * float(size[0]) / 2, anchor.size[1] * float(size[1]) / 2
    x1, y1 = max(0.0, cx - half_w), max(0.0, cy - half_h)
    x2, y2 = min(float(width), cx + half_w), min(float(height), cy + half_h)
    points = _mesh_keypoints(landmarks) + np.asarray(anchor.keypoints, dtype=np.float32) * unit
    keypoints = tuple((float(x), float(y)) for x, y in points)
    return Face(box=Rect(x=x1, y=y1, width=x2 - x1, height=y2 - y1), keypoints=keypoints, score=anchor.score)


@dataclass(frozen=True)
class Followed:
    """A frame whose face the mesh followed: the face on this frame and the mesh that found it."""

    face: Face
    mesh: FaceMesh
    anchor: FaceAnchor


class FaceTracker:
    def __init__(self, mesh: FaceMeshModel, detect_every: int) -> None:
        self.mesh, self.detect_every = mesh, detect_every

    def prediction(self, frame_no: int, reference: Reference | None, width: int, height: int,
                   ) -> tuple[FaceAnchor, Face] | None:
        """Where the previous frame's mesh puts the face on frame ``frame_no``; None when the
        detector is due (no previous frame, a gap, ``detect_every`` frames since it last ran)."""
        track = reference.track if reference is not None else None
        if self.detect_every <= 1 or track is None or track.anchor is None or not track.points:
            return None
        if track.frame_no != frame_no - 1 or frame_no - track.anchor.detected_at >= self.detect_every:
            return None
        face = carried(track.anchor, track.points[-1], width, height)
        return None if face is None else (track.anchor, face)

    def follow(self, items: Sequence[tuple[RGBImage, FaceAnchor, Face]]) -> list[Followed | None]:
        """The mesh of each predicted face in one batch; None where the mesh lost the face."""
        if not items:
            return []
        meshes = self.mesh.predict([(image, face) for image, _, face in items])
        found: list[Followed | None] = []
        for (image, anchor, predicted), mesh in zip(items, meshes, strict=True):
            height, width = image.shape[:2]
            face = carried(anchor, mesh.landmarks, width, height)
            lost = mesh.score < MIN_TRACKING_SCORE or face is None or _off_crop(predicted, face)
            found.append(None if lost or face is None else Followed(face, mesh, anchor))
        return found


def _off_crop(predicted: Face, found: Face) -> bool:
    """The face found has moved too far from where the crop expected it (MAX_SHIFT and co.)."""
    before, after = predicted.box, found.box
    shift = math.hypot(after.x + after.width / 2 - before.x - before.width / 2,
                       after.y + after.height / 2 - before.y - before.height / 2) / max(before.width, 1e-6)
    scale = after.width / max(before.width, 1e-6)
    turn = abs(math.remainder(roll_of(found) - roll_of(predicted), math.tau))
    return shift > MAX_SHIFT or not 1 / MAX_SCALE <= scale <= MAX_SCALE or turn > math.radians(MAX_ROLL_DEG)


def followed_faces(found: Followed, width: int, height: int, settings: Settings) -> tuple[Face, ...] | None:
    """The frame's faces, the followed one first (the others as the detector last saw them); None
    when the main-face rule (shared/faces.py) would pick another: the detector then decides."""
    faces = (found.face, *found.anchor.others)
    selection = select_main_face(faces, width, height, settings.roi, settings.session.multiface_policy)
    return faces if selection.index == 0 else None
