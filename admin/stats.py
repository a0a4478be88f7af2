"""Statistics section: completed sessions per hour (or day), share of successes, the mix of
failed checks and end reasons, frames per session, and time metrics (admin/timing.py), computed
from the ``session_events``, ``decisions`` and ``estimations`` streams of the period (stream ids
carry the time). Each stream is read newest first up to a cap (admin/streams.py): the page says
when a cap cut the period short.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass, replace
from enum import StrEnum

from markupsafe import Markup
from quart import Blueprint, render_template, request
from quart.typing import ResponseReturnValue
from redis.asyncio import Redis

from admin import charts
from admin.accounts import Section
from admin.context import admin_context
from admin.guard import requires
from admin.streams import Window, read_window
from admin.timing import TimeStats, compute_times, percentile
from shared.errors import FrameCheck
from shared.keys import Keys
from shared.messages import EstimationMessage, ReplyMessage, SessionEnd, SessionEvent, SessionOutcome

stats = Blueprint("stats", __name__, url_prefix="/statistics")
stats.before_request(requires(Section.STATISTICS))
# Active-liveness prompts ask for an action; they are not failures.
PROMPTS = frozenset(range(FrameCheck.ACTION_BLINK, FrameCheck.ACTION_MOUTH_OPEN + 1))
FRAME_BUCKETS = ((1, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, None))
# Caps per read, newest first (measured on the 2-core development machine, one page load): 20 000
# decisions take about 0.6 s to read and decode, twice the default stream length; session events
# are smaller still. Estimations carry the frame's image (1 000 of 50 KB: about 0.4 s), so
# per-frame times come from the newest 1 000 frames only.
EVENTS_LIMIT = 20_000
DECISIONS_LIMIT = 20_000
ESTIMATIONS_LIMIT = 1_000


class Period(StrEnum):
    DAY = "day"  # the last 24 hours, per hour (UTC)
    WEEK = "week"  # the last 7 days, per day (UTC)

    @property
    def layout(self) -> tuple[int, int, str]:
        """(bin seconds, bin count, label format)."""
        return (3600, 24, "%H:00") if self is Period.DAY else (86_400, 7, "%a %d")


@dataclass(frozen=True)
class Stats:
    period: Period
    labels: tuple[str, ...]
    successes: tuple[int, ...]
    failures: tuple[int, ...]
    failed_checks: tuple[tuple[str, int], ...]
    end_reasons: tuple[tuple[str, int], ...]
    frames: tuple[tuple[str, int], ...]
    frames_median: float | None
    frames_p95: float | None
    skipped: int
    times: TimeStats | None = None
    # Streams whose cap was reached: (name, entries read, time of the oldest one in epoch ms).
    cut_short: tuple[tuple[str, int, int], ...] = ()

    @property
    def completed(self) -> int:
        return sum(self.successes) + sum(self.failures)

    @property
    def success_share(self) -> float | None:
        return sum(self.successes) / self.completed if self.completed else None


KNOWN_CHECKS = frozenset(int(code) for code in FrameCheck)


def _code_label(code: int) -> str:
    return f"{FrameCheck(code).name.replace('_', ' ').lower()} ({code})" if code in KNOWN_CHECKS else str(code)


def period_start(now: float, period: Period) -> int:
    step, count, _ = period.layout
    return (int(now) // step - count + 1) * step


def completed_sessions(events: list[SessionEvent], start: float) -> list[SessionEvent]:
    completed: dict[str, SessionEvent] = {}
    for event in events:  # at-least-once: the last word on a session counts once
        if event.outcome is not SessionOutcome.DISCONNECTED and event.at >= start:
            completed[event.session_id] = event
    return list(completed.values())


def compute(events: list[SessionEvent], replies: list[ReplyMessage], now: float, period: Period) -> Stats:
    step, count, fmt = period.layout
    start = period_start(now, period)
    completed = completed_sessions(events, start)
    ok, bad = [0] * count, [0] * count
    for event in completed:
        slot = min(int(event.at - start) // step, count - 1)
        (ok if event.outcome is SessionOutcome.SUCCESS else bad)[slot] += 1
    checks: Counter[str] = Counter()
    ends: Counter[str] = Counter()
    for reply in {(r.session_id, r.frame_no): r for r in replies}.values():
        checks.update(_code_label(int(code)) for code in reply.errors if int(code) not in PROMPTS)
        if reply.error is not None:
            checks[f"{reply.error.name.lower()} ({int(reply.error)})"] += 1
        if reply.end is not None and reply.end is not SessionEnd.SUCCESS:
            ends[reply.end.value.replace("_", " ")] += 1
    frames = [event.frames for event in completed]
    buckets = tuple((f"{lo}-{hi}" if hi else f"{lo}+", sum(1 for n in frames if lo <= n <= (hi or n)))
                    for lo, hi in FRAME_BUCKETS)
    return Stats(
        period=period, labels=tuple(time.strftime(fmt, time.gmtime(start + i * step)) for i in range(count)),
        successes=tuple(ok), failures=tuple(bad), failed_checks=tuple(checks.most_common(15)),
        end_reasons=tuple(ends.most_common()), frames=buckets,
        frames_median=statistics.median(frames) if frames else None,
        frames_p95=percentile(frames, 0.95) if frames else None, skipped=0,
    )


async def load(redis: Redis, keys: Keys, now: float, period: Period) -> Stats:
    since = period_start(now, period)
    events = await read_window(redis, keys.session_events, SessionEvent, since, EVENTS_LIMIT)
    decisions = await read_window(redis, keys.decisions, ReplyMessage, since, DECISIONS_LIMIT)
    estimations = await read_window(redis, keys.estimations, EstimationMessage, since, ESTIMATIONS_LIMIT)
    result = compute(events.messages, decisions.messages, now, period)
    windows: dict[str, Window[SessionEvent] | Window[ReplyMessage] | Window[EstimationMessage]] = {
        "session events": events, "decisions": decisions, "estimations": estimations}
    return replace(
        result, skipped=sum(window.skipped for window in windows.values()),
        times=compute_times(estimations.entries, decisions.entries, completed_sessions(events.messages, since)),
        cut_short=tuple((name, window.read, window.since_ms) for name, window in windows.items()
                        if window.truncated and window.since_ms is not None),
    )


@stats.get("/")
async def index() -> ResponseReturnValue:
    context = admin_context()
    chosen = request.args.get("period", "")
    period = Period(chosen) if chosen in {p.value for p in Period} else Period.DAY
    result = await load(context.redis, context.keys, time.time(), period)
    per = "hour" if period is Period.DAY else "day"
    return await render_template(
        "statistics.html", stats=result, periods=list(Period),
        sessions_chart=charts.columns(f"Completed sessions per {per} (UTC)", result.labels,
                                      [("series-ok", result.successes), ("series-bad", result.failures)],
                                      label_every=3 if period is Period.DAY else 1),
        share_chart=charts.share_ring("Share of successes", result.success_share),
        checks_chart=charts.bars("Failed checks on frames", result.failed_checks),
        ends_chart=charts.bars("Why failed sessions ended", result.end_reasons),
        frames_chart=charts.columns("Frames per completed session", [label for label, _ in result.frames],
                                    [("series-n", [n for _, n in result.frames])], height=180),
        estimations_limit=ESTIMATIONS_LIMIT, **time_charts(result.times),
    )


def time_charts(times: TimeStats | None) -> dict[str, Markup]:
    stages = times.stages if times else ()
    trip = times.round_trip if times else ()
    durations = times.durations if times else ()
    return {
        "stages_chart": charts.ranges("Time per frame by estimator stage, p50 / p95 (ms)",
                                      [(s.label, s.p50, s.p95) for s in stages]),
        "trip_chart": charts.ranges("Frame round trip, p50 / p95 (ms)", [(s.label, s.p50, s.p95) for s in trip]),
        "durations_chart": charts.columns("Duration of completed sessions", [label for label, _ in durations],
                                          [("series-n", [n for _, n in durations])], height=180),
    }
