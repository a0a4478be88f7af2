"""Head pose from the 468 face landmarks and MediaPipe's canonical 3-D face mesh.

A similarity transform (Umeyama / orthogonal Procrustes) maps the canonical vertices onto the
landmarks (x image-right, y up, z towards the camera); its rotation is the head's. Angles come
from where the rotated face points, which keeps them intuitive and free of gimbal surprises:

* yaw: > 0 when the person turns to their own left (nose towards the image right in a
  non-mirrored frame);
* pitch: > 0 when the person looks up;
* roll: > 0 when the head leans towards the person's left shoulder.

Mirrored frames (selfie pages that send the mirror image; ``ClientInfo.mirrored``) flip yaw and
roll back, so the signs always describe the person. The landmarks' z is the face mesh's own
depth estimate; the mesh has a strong face prior, so a flat photo still yields a face-like 3-D
shape: pose alone never proves a head moved (see parallax.py).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from shared.messages import HeadPose

FloatArray = npt.NDArray[np.float32]


def rotation_onto(vertices: FloatArray, landmarks: FloatArray) -> npt.NDArray[np.float64]:
    """The rotation of the best similarity from ``vertices`` onto ``landmarks`` (both (N, 3))."""
    source = vertices.astype(np.float64)
    target = landmarks.astype(np.float64)
    source = source - source.mean(axis=0)
    target = target - target.mean(axis=0)
    u, _, vt = np.linalg.svd(target.T @ source)
    fix = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])  # a rotation, never a reflection
    return np.asarray(u @ fix @ vt)


def head_pose(landmarks: FloatArray, canonical: FloatArray, *, mirrored: bool = False) -> HeadPose:
    """Yaw, pitch, roll in degrees for landmarks in image pixels (x right, y down, z depth)."""
    # Image axes to the canonical mesh's: y up, z towards the camera.
    points = np.column_stack([landmarks[:, 0], -landmarks[:, 1], -landmarks[:, 2]])
    rotation = rotation_onto(canonical, points.astype(np.float32))
    forward, up = rotation @ np.array([0.0, 0.0, 1.0]), rotation @ np.array([0.0, 1.0, 0.0])
    yaw = math.degrees(math.atan2(forward[0], forward[2]))
    pitch = math.degrees(math.atan2(forward[1], math.hypot(forward[0], forward[2])))
    roll = math.degrees(math.atan2(up[0], up[1]))
    if mirrored:
        yaw, roll = -yaw, -roll
    return HeadPose(yaw=round(yaw, 2), pitch=round(pitch, 2), roll=round(roll, 2))
