"""3-D parallax evidence: does the face move like a head or like a picture?

A flat picture (print, phone, tilted photo) moves in the image by one projective map, so its
landmarks in two views are related by a homography; a real head's are not (the nose moves
against the cheeks). We fit the best homography from the current frame's 468 landmarks to the
session's reference frame's (its most frontal so far) and report the median residual in
inter-ocular distances (between the eye centres), with the pose change between the two.
Measured (models.md): at >= 20 degrees of pose change real heads gave 0.10-0.18, tilted flat
photos 0.05-0.07 (0.11 at p90); here genuine full turns gave 0.14-0.43 and synthetic tilts of a
flat frame 0.02-0.03 at 35-50 degrees before a 53-degree camera, but up to 0.10-0.13 at 55-60
degrees before a 78-90-degree webcam (tests/test_active_liveness_video.py). The ActiveLiveness
plugin takes a turn as real at >= 0.12. It cannot tell a *replayed video* of
a real head from the head: a replay keeps the original's parallax.

The reference lives in Redis (``P:estimator:reference:{session}``) so any estimator instance can
serve any frame.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from redis.asyncio import Redis

from services.estimator.temporal import Track
from shared.errors import MessageDecodeError
from shared.keys import Keys
from shared.stored import ParallaxReference, pack, unpack

log = logging.getLogger(__name__)
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Reference:
    points: FloatArray  # (468, 2) image pixels of the session's most frontal frame so far
    yaw: float
    pitch: float
    # The session's recent landmarks for the temporal deepfake cue: saved beside the reference
    # (its own key) so the worker loads and saves one per-session memory.
    track: Track | None = None

    def frontality(self) -> float:
        return abs(self.yaw) + abs(self.pitch)


def eye_centre_distance(landmarks: FloatArray) -> float:
    """Distance between the eye centres (mean of each eye's mesh corners): close to the
    interpupillary distance the measurements in models.md are expressed in."""
    right = (landmarks[33, :2] + landmarks[133, :2]) / 2
    left = (landmarks[362, :2] + landmarks[263, :2]) / 2
    return float(np.linalg.norm(right - left))


def homography_residual(reference: FloatArray, current: FloatArray, inter_ocular_px: float) -> float:
    """Median distance between ``reference`` and ``current`` mapped by the best homography, in IODs."""
    src, src_t = _normalise(current.astype(np.float64))
    dst, dst_t = _normalise(reference.astype(np.float64))
    x, y, u, v = src[:, 0], src[:, 1], dst[:, 0], dst[:, 1]
    zeros, ones = np.zeros_like(x), np.ones_like(x)
    rows = np.empty((2 * len(x), 9))
    rows[0::2] = np.column_stack([-x, -y, -ones, zeros, zeros, zeros, u * x, u * y, u])
    rows[1::2] = np.column_stack([zeros, zeros, zeros, -x, -y, -ones, v * x, v * y, v])
    # Only V is needed: the thin SVD avoids a 936x936 U (13 ms -> 0.3 ms a frame).
    _, _, vt = np.linalg.svd(rows, full_matrices=False)
    homography = np.linalg.inv(dst_t) @ vt[-1].reshape(3, 3) @ src_t
    mapped = np.column_stack([current, np.ones(len(current))]) @ homography.T
    mapped = mapped[:, :2] / mapped[:, 2:3]
    errors = np.linalg.norm(mapped - reference, axis=1)
    return float(np.median(errors)) / max(inter_ocular_px, 1e-6)


def _normalise(points: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Hartley normalisation: centroid at 0, mean distance sqrt(2); returns points and the map."""
    centre = points.mean(axis=0)
    scale = math.sqrt(2) / max(float(np.linalg.norm(points - centre, axis=1).mean()), 1e-9)
    transform = np.array([[scale, 0, -scale * centre[0]], [0, scale, -scale * centre[1]], [0, 0, 1]])
    return (points - centre) * scale, transform


class ReferenceStore:
    def __init__(self, redis: Redis, keys: Keys, ttl_s: int) -> None:
        self.redis, self.keys, self.ttl_s = redis, keys, ttl_s

    async def load(self, session_ids: list[str]) -> dict[str, Reference]:
        if not session_ids:
            return {}
        keys = [self.keys.estimator_reference(s) for s in session_ids]
        values = await self.redis.mget(keys + [self.keys.estimator_track(s) for s in session_ids])
        found = {}
        for session_id, raw, track in zip(session_ids, values[:len(keys)], values[len(keys):], strict=True):
            if raw is None:
                continue
            try:
                stored = unpack(ParallaxReference, raw)
                points = np.frombuffer(stored.points, dtype=np.float32).reshape(-1, 2)
                found[session_id] = Reference(points, stored.yaw, stored.pitch,
                                              Track.unpack(track) if track is not None else None)
            except MessageDecodeError as exc:
                # Written by another version of the estimator (a rolling deploy): a memory of cues,
                # so the session starts a fresh one rather than failing its frames.
                log.warning("session %s: stored face geometry unreadable (%s); starting afresh", session_id, exc)
        return found

    async def save(self, references: dict[str, Reference]) -> None:
        if not references:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id, ref in references.items():
                stored = ParallaxReference(points=ref.points.astype(np.float32).tobytes(), yaw=ref.yaw, pitch=ref.pitch)
                pipe.set(self.keys.estimator_reference(session_id), pack(stored), ex=self.ttl_s)
                if ref.track is not None:
                    pipe.set(self.keys.estimator_track(session_id), ref.track.pack(), ex=self.ttl_s)
            await pipe.execute()
