"""Where in a video the person holds still: the stretches a cooperative session plays.

While the light runs the page asks the person to hold still and look at the screen (code 100),
and the plugin drops frames turned more than ``max_pose_change_deg`` from the first one. Real
videos in the media folder were not filmed under that prompt (head turns, nods), so each session
plays, back and forth, a stretch of ``still_window_s`` where the head pose (measured by the
estimator's own pose code every ``SAMPLE_S``) stays within ``still_pose_deg`` of the
stretch's median, itself within ``still_frontal_deg`` of frontal (the person looks at the screen);
a video without such a stretch is played whole (and its person may move).
"""

from __future__ import annotations

import numpy as np

from infra.eval.light.measure import Estimator
from infra.eval.light.scene import FaceGeometry
from infra.eval.light.sources import Footage
from services.estimator.pose import head_pose

SAMPLE_S = 0.2  # the pose is read every fifth of a second


def still_windows(estimator: Estimator, footage: Footage, cache: dict[tuple[str, int], FaceGeometry | None],
                  window_s: float, limit_deg: float, frontal_deg: float) -> list[tuple[int, int]]:
    """(first frame, frame count) of every still stretch, or the whole footage when none."""
    count = max(2, round(window_s * footage.medium.fps))
    whole = [(0, len(footage))]
    if window_s <= 0 or count >= len(footage):
        return whole
    stride = max(1, round(SAMPLE_S * footage.medium.fps))
    poses: list[tuple[float, float] | None] = []
    for index in range(0, len(footage), stride):
        key = (footage.medium.path, index)
        if key not in cache:
            cache[key] = estimator.find(footage.image(index)).geometry
        geometry = cache[key]
        pose = head_pose(geometry.landmarks, estimator.canonical) if geometry is not None else None
        poses.append((pose.yaw, pose.pitch) if pose is not None else None)
    span = max(1, count // stride)
    found = []
    for start in range(0, len(poses) - span + 1):
        part = poses[start:start + span]
        if any(p is None for p in part):
            continue
        values = np.array(part, dtype=np.float64)
        median = np.median(values, axis=0)
        if float(np.abs(values - median).max()) <= limit_deg and float(np.abs(median).max()) <= frontal_deg:
            found.append((start * stride, min(count, len(footage) - start * stride)))
    return found or whole
