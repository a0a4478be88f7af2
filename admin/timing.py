"""Time metrics of the statistics page, computed from stream entries already read.

- Per stage: the estimator's own ``timings`` (ms) carried in each ``EstimationMessage``; a stage
  counts over the frames it ran on (the evidence stages skip poor frames), and "estimator, all
  stages" is a frame's sum. A frame analysed twice (redelivered) counts once, its first analysis.
- Round trip: from the frame's ``received_at`` (the ingress clock) to the entry time of its
  estimation and of its decision (the Redis clock), joined by (session, frame number). The hop
  from the decision back to the page is not in any stream, so it is not counted.
- Session duration: from the entry time of the answer to frame 1 to the session's end event
  (``SessionEvent.at``); a session whose first answer is outside the window read is not measured
  rather than measured short.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from shared.messages import EstimationMessage, ReplyMessage, SessionEvent
from shared.stages import Stage

# The estimator's order of work; a stage not listed (a new one) follows, by name.
STAGE_ORDER = tuple(str(stage) for stage in Stage)
TOTAL = "estimator, all stages"
TO_ESTIMATION = "received → estimation"
TO_DECISION = "estimation → decision"
ROUND_TRIP = "received → decision"
DURATION_BUCKETS = ((0, 5, "<5 s"), (5, 10, "5-10 s"), (10, 20, "10-20 s"), (20, 30, "20-30 s"),
                    (30, 60, "30-60 s"), (60, 120, "1-2 min"), (120, math.inf, "2 min+"))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0-1), numpy's default (linear) rule; an error for no values."""
    if not values:
        raise ValueError("percentile of no values")
    return float(np.percentile(values, q * 100))


@dataclass(frozen=True)
class Spread:
    """p50 / p95 of one measured quantity over ``count`` samples."""

    name: str
    count: int
    p50: float
    p95: float

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    @classmethod
    def of(cls, name: str, values: Sequence[float]) -> Spread:
        return cls(name, len(values), percentile(values, 0.5), percentile(values, 0.95))


@dataclass(frozen=True)
class TimeStats:
    stages: tuple[Spread, ...]  # ms per frame, each estimator stage then the total
    round_trip: tuple[Spread, ...]  # ms per frame, the hops then the whole
    durations: tuple[tuple[str, int], ...]  # completed sessions per duration bucket
    duration: Spread | None  # seconds per completed session
    unmeasured: int  # completed sessions whose first answer was not in the window


def _stage_key(name: str) -> tuple[int, str]:
    return (STAGE_ORDER.index(name) if name in STAGE_ORDER else len(STAGE_ORDER), name)


def first_copies(estimations: Iterable[tuple[int, EstimationMessage]]) -> list[tuple[int, EstimationMessage]]:
    """One estimation per frame: a redelivered frame analysed again is still one frame."""
    seen: set[tuple[str, int]] = set()
    first = []
    for ms, estimation in estimations:
        if (estimation.session_id, estimation.frame_no) not in seen:
            seen.add((estimation.session_id, estimation.frame_no))
            first.append((ms, estimation))
    return first


def stage_spreads(estimations: Iterable[EstimationMessage]) -> tuple[Spread, ...]:
    per_stage: dict[str, list[float]] = {}
    totals: list[float] = []
    for estimation in estimations:
        for name, ms in estimation.timings.items():
            per_stage.setdefault(name, []).append(ms)
        if estimation.timings:
            totals.append(sum(estimation.timings.values()))
    spreads = [Spread.of(name, per_stage[name]) for name in sorted(per_stage, key=_stage_key)]
    return (*spreads, Spread.of(TOTAL, totals)) if totals else ()


def round_trip_spreads(estimations: Sequence[tuple[int, EstimationMessage]],
                       decisions: Sequence[tuple[int, ReplyMessage]]) -> tuple[Spread, ...]:
    decided: dict[tuple[str, int], int] = {}
    for ms, reply in decisions:  # at-least-once: the first copy is when the answer was given
        decided.setdefault((reply.session_id, reply.frame_no), ms)
    hops: dict[str, list[float]] = {TO_ESTIMATION: [], TO_DECISION: [], ROUND_TRIP: []}
    for estimated_ms, estimation in estimations:
        frame = (estimation.session_id, estimation.frame_no)
        if not estimation.received_at:  # not stamped by the ingress (an old or hand-made message)
            continue
        received_ms = estimation.received_at * 1000
        hops[TO_ESTIMATION].append(estimated_ms - received_ms)
        if frame in decided:
            hops[TO_DECISION].append(decided[frame] - estimated_ms)
            hops[ROUND_TRIP].append(decided[frame] - received_ms)
    return tuple(Spread.of(name, values) for name, values in hops.items() if values)


def session_durations(completed: Iterable[SessionEvent],
                      decisions: Sequence[tuple[int, ReplyMessage]]) -> tuple[list[float], int]:
    """Seconds from the first answer to the end of each completed session, and how many were not measured."""
    first: dict[str, int] = {}
    for ms, reply in decisions:
        if reply.frame_no == 1:
            first[reply.session_id] = min(ms, first.get(reply.session_id, ms))
    durations, unmeasured = [], 0
    for event in completed:
        if event.session_id in first:
            # Ingress and Redis clocks may differ by a little: never a negative duration.
            durations.append(max(0.0, event.at - first[event.session_id] / 1000))
        else:
            unmeasured += 1
    return durations, unmeasured


def compute_times(estimations: Sequence[tuple[int, EstimationMessage]], decisions: Sequence[tuple[int, ReplyMessage]],
                  completed: Iterable[SessionEvent]) -> TimeStats:
    durations, unmeasured = session_durations(completed, decisions)
    frames = first_copies(estimations)
    buckets = tuple((label, sum(1 for s in durations if lo <= s < hi)) for lo, hi, label in DURATION_BUCKETS)
    return TimeStats(
        stages=stage_spreads(estimation for _, estimation in frames),
        round_trip=round_trip_spreads(frames, decisions),
        durations=buckets, duration=Spread.of("session duration", durations) if durations else None,
        unmeasured=unmeasured,
    )
