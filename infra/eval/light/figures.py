"""The figures of a light-challenge run, per kind: every one of them SIMULATED unless the sessions
came from real recordings (recordings.py), and labelled so in the output.

* BPCER (genuine): sessions the light challenge did not let through: refused (102), ended
  otherwise, or undecided at the frame bound. Sessions sent to the no-light path (too weak after
  every retry) are not refusals: reported apart as ``no_light``.
* APCER (attacks): sessions that passed *with* the light defence. ``no_light`` attacks escaped the
  light check (the actions alone then stand); ``apcer_or_no_light`` counts them as passes.
* Wilson score 95 % intervals with the counts; seconds from the first light step to the decision
  (median, p95); the plugin's own lag and response-time cues; frames whose exposure straddled a
  change of the panel (``mixed``) or showed another step than their tag (``mismatched``).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from infra.eval.light.host import SessionResult

Z95 = 1.959964


@dataclass(frozen=True)
class Rate:
    hits: int
    total: int

    def interval(self) -> tuple[float, float] | None:
        """Wilson score interval (95 %)."""
        if not self.total:
            return None
        p, n = self.hits / self.total, self.total
        centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
        half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
        return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)

    def document(self) -> dict[str, Any]:
        return {"rate": round(self.hits / self.total, 4) if self.total else None, "hits": self.hits,
                "total": self.total, "wilson95": self.interval()}

    def text(self) -> str:
        bounds = self.interval()
        if bounds is None:
            return "-"
        return f"{self.hits / self.total:6.1%} [{bounds[0]:.0%}-{bounds[1]:.0%}] {self.hits}/{self.total}"


def spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p95": None, "n": 0}
    p50, p95 = np.percentile(values, [50, 95])
    return {"median": round(float(p50), 3), "p95": round(float(p95), 3), "n": len(values)}


def summarise(results: list[SessionResult], *, attack: bool) -> dict[str, Any]:
    total = len(results)
    outcomes = Counter(r.outcome for r in results)
    passed, skipped = outcomes.get("pass", 0), outcomes.get("skipped", 0)
    entry: dict[str, Any] = {"sessions": total, "outcomes": dict(outcomes.most_common())}
    if attack:
        entry["apcer"] = Rate(passed, total).document()
        entry["apcer_or_no_light"] = Rate(passed + skipped, total).document()
    else:
        entry["bpcer"] = Rate(total - passed - skipped, total).document()
    entry["no_light"] = Rate(skipped, total).document()
    entry["retried"] = Rate(sum(r.retries > 0 for r in results), total).document()
    entry["reasons"] = dict(Counter(f"{r.outcome}:{r.reason}" for r in results).most_common())
    entry["challenge_s"] = spread([r.challenge_s for r in results if r.challenge_s is not None])
    entry["challenge_s_passed"] = spread([r.challenge_s for r in results
                                          if r.challenge_s is not None and r.outcome == "pass"])
    # The best matching lag: in ms with the page's capture and paint times, else in frames ("f").
    lags = [f"{r.cues['lag_ms']:g}ms" if "lag_ms" in r.cues else f"{r.cues['lag_frames']:g}f"
            for r in results if "lag_ms" in r.cues or "lag_frames" in r.cues]
    entry["lag"] = dict(sorted(Counter(lags).items()))
    entry["response_s"] = spread([r.cues["response_s"] for r in results if "response_s" in r.cues])
    frames = sum(r.frames for r in results)
    entry["frames"] = frames
    entry["mixed_frames"] = sum(r.mixed_frames for r in results)
    entry["mismatched_frames"] = sum(r.mismatched_frames for r in results)
    return entry


def onset(levels: dict[float, dict[str, Any]], share: float = 0.1) -> dict[str, float | None]:
    """The lowest ambient level at which genuine sessions start to fail (BPCER >= ``share``), to be
    sent to the no-light path (>= ``share``), and to need a retry at all."""
    def first(test: Any) -> float | None:
        return next((lux for lux, entry in sorted(levels.items()) if test(entry)), None)

    return {"bpcer_at_least": share, "fail_lux": first(lambda e: (e["bpcer"]["rate"] or 0) >= share),
            "no_light_lux": first(lambda e: (e["no_light"]["rate"] or 0) >= share),
            "first_retry_lux": first(lambda e: e["retried"]["hits"] > 0)}
