"""The one rule for thresholds (guide, Table 14): a score fails under its threshold, and a
threshold of ``None`` disables its check. The estimator (which evidence to compute) and the
decider (which checks fail) must agree on it."""

from __future__ import annotations

from shared.errors import FrameCheck
from shared.messages import ImageQuality
from shared.settings import ThresholdSettings


def below(score: float, threshold: float | None) -> bool:
    return threshold is not None and score < threshold


def quality_failures(quality: ImageQuality, limits: ThresholdSettings) -> list[FrameCheck]:
    """The image-quality gate: a frame failing any of these never enters the decider's window, so
    the estimator also skips what only such frames would need (the FaceMatcher's descriptor)."""
    checks = [
        (quality.blur, limits.blur, FrameCheck.BLURRED),
        (quality.light, limits.light, FrameCheck.HIGHLIGHTED),
        (quality.darkness, limits.dark, FrameCheck.DARK),
        (quality.illumination, limits.illumination, FrameCheck.UNEVEN_ILLUMINATION),
        (quality.specularity, limits.specularity, FrameCheck.SPECULAR),
    ]
    return [code for score, threshold, code in checks if below(score, threshold)]
