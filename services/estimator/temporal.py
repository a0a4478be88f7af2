"""Temporal landmark jitter: how much the face mesh's landmarks shake from frame to frame once
the head's own motion is taken out. A measurement for the deepfake evidence, not a model.

A face swap renders the inner face frame by frame; its landmarks may flicker where a camera's
move smoothly. Per frame, with the session's two previous frames of landmarks:

1. each previous frame is mapped onto the current one by the least-squares 2-D similarity of the
   468 landmarks (Umeyama), which removes the head's translation, in-plane rotation and scale;
2. the second difference ``current - 2 * previous + before`` of every landmark removes what is
   left of a steady motion (a turn, a slow expression) and keeps what changes direction;
3. the median of its length over the landmarks, in inter-ocular distances, is the jitter.

It needs three analysed frames in a row (consecutive ``frame_no``): the first two frames of a
session, and the two after any gap, have none. One frame's value is noisy (a blink, a hand, motion
blur), so the session's cue is the median of its last ``JITTER_WINDOW`` values. The frame rate
matters: a 30 fps clip sampled every second frame, as the page's one-frame-per-reply pace gives,
is what was measured (docs/evidence.md, ``python -m load.eval_temporal``).

The session's track (the last two frames' landmarks and the recent jitters) lives in Redis
(``P:estimator:track:{session}``, saved with the parallax reference by ``ReferenceStore``), so
any estimator instance can serve the next frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from services.estimator.models.sface import umeyama
from shared.stored import FaceAnchor, LandmarkTrack, pack, unpack

FloatArray = npt.NDArray[np.float32]
TRACK_DEPTH = 2  # previous frames kept per session: a second difference needs two
JITTER_WINDOW = 8  # recent per-frame jitters whose median is the session's cue
POINTS = 468


def _mapped_onto(source: FloatArray, target: FloatArray) -> npt.NDArray[np.float64]:
    src = source.astype(np.float64)
    matrix = umeyama(src, target.astype(np.float64))
    mapped: npt.NDArray[np.float64] = src @ matrix[:, :2].T + matrix[:, 2]
    return mapped


def landmark_jitter(before: FloatArray, previous: FloatArray, current: FloatArray, iod: float) -> float:
    """Median second difference of the (468, 2) landmarks after similarity alignment, in IODs."""
    here = current.astype(np.float64)
    acceleration = here - 2 * _mapped_onto(previous, current) + _mapped_onto(before, current)
    return float(np.median(np.linalg.norm(acceleration, axis=1))) / max(iod, 1e-6)


@dataclass(frozen=True)
class Track:
    """A session's recent landmarks (oldest first) and per-frame jitters, up to ``frame_no``."""

    frame_no: int
    points: tuple[FloatArray, ...] = ()
    jitters: tuple[float, ...] = ()
    # Where the detector last saw the face (services/estimator/tracking.py); kept by ``advance``
    # only over consecutive frames, like the landmarks.
    anchor: FaceAnchor | None = None

    def advance(self, frame_no: int, landmarks: FloatArray, iod: float) -> Track:
        """The track after frame ``frame_no`` with these (468, 2) landmarks; a gap starts afresh."""
        track = self if frame_no == self.frame_no + 1 else Track(frame_no - 1)
        jitters = track.jitters
        if len(track.points) == TRACK_DEPTH:
            jitters = (*jitters, landmark_jitter(track.points[0], track.points[1], landmarks, iod))[-JITTER_WINDOW:]
        points = (*track.points, np.ascontiguousarray(landmarks[:, :2], dtype=np.float32))[-TRACK_DEPTH:]
        return Track(frame_no, points, jitters, track.anchor)

    def anchored(self, anchor: FaceAnchor | None) -> Track:
        return replace(self, anchor=anchor)

    def jitter(self) -> float | None:
        """The session's cue: the median of the recent jitters (None before three frames in a row)."""
        return float(np.median(self.jitters)) if self.jitters else None

    def pack(self) -> bytes:
        return pack(LandmarkTrack(frame_no=self.frame_no, points=b"".join(p.tobytes() for p in self.points),
                                  jitters=tuple(float(j) for j in self.jitters), anchor=self.anchor))

    @classmethod
    def unpack(cls, raw: bytes) -> Track:
        """``MessageDecodeError`` when another version wrote it (shared/stored.py)."""
        stored = unpack(LandmarkTrack, raw)
        flat = np.frombuffer(stored.points, dtype=np.float32).reshape(-1, POINTS, 2)
        return cls(stored.frame_no, tuple(flat[i] for i in range(len(flat))), stored.jitters, stored.anchor)
