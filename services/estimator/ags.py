"""AGS: one overall quality score in [0, 1] for the main face (not the baseline's network).

    ags = (blur * light * darkness * illumination * specularity) ** (1/5)   geometric mean
          * cos(yaw) ** 2 * cos(pitch) ** 2                                   frontal faces win
          * min(1, inter-ocular distance / 60 px)                             enough pixels
          * detection score

The geometric mean lets one bad quality dimension pull the score down; the pose factor halves
it at 45 degrees; 60 px between the eyes is where the descriptor's alignment stops gaining. A
good frontal webcam face scores 0.8-0.95; the decider's default threshold is 0.5.
"""

from __future__ import annotations

import math

from shared.messages import HeadPose, ImageQuality


def ags(quality: ImageQuality, pose: HeadPose | None, inter_ocular_px: float, detection: float) -> float:
    scores = (quality.blur, quality.light, quality.darkness, quality.illumination, quality.specularity)
    mean = math.prod(max(s, 1e-6) for s in scores) ** (1 / len(scores))
    frontal = 1.0
    if pose is not None:
        yaw, pitch = math.radians(min(abs(pose.yaw), 90)), math.radians(min(abs(pose.pitch), 90))
        frontal = math.cos(yaw) ** 2 * math.cos(pitch) ** 2
    resolution = min(1.0, inter_ocular_px / 60)
    return round(mean * frontal * resolution * detection, 4)
