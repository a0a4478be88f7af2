"""The one rule for thresholds (guide, Table 14): a score fails under its threshold, and a
threshold of ``None`` disables its check. The estimator (which evidence to compute) and the
decider (which checks fail) must agree on it."""

from __future__ import annotations


def below(score: float, threshold: float | None) -> bool:
    return threshold is not None and score < threshold
