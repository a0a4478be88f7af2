"""Statistics section: completed sessions per hour (or day), share of successes, the mix of
failed checks and end reasons, frames per session, computed from the ``session_events`` and
``decisions`` streams of the period (stream ids carry the time)."""

from __future__ import annotations

import logging
import statistics
import time
from collections import Counter
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeVar

from quart import Blueprint, render_template, request
from quart.typing import ResponseReturnValue
from redis.asyncio import Redis

from admin import charts
from admin.accounts import Section
from admin.context import admin_context
from admin.guard import requires
from shared.errors import FrameCheck, MessageDecodeError
from shared.messages import Message, ReplyMessage, SessionEnd, SessionEvent, SessionOutcome, decode

log = logging.getLogger(__name__)
stats = Blueprint("stats", __name__, url_prefix="/statistics")
stats.before_request(requires(Section.STATISTICS))
M = TypeVar("M", bound=Message)
# Active-liveness prompts ask for an action; they are not failures.
PROMPTS = frozenset(range(FrameCheck.ACTION_BLINK, FrameCheck.ACTION_MOUTH_OPEN + 1))
FRAME_BUCKETS = ((1, 5), (6, 10), (11, 20), (21, 50), (51, 100), (101, None))
READ_LIMIT = 200_000


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
    skipped: int

    @property
    def completed(self) -> int:
        return sum(self.successes) + sum(self.failures)

    @property
    def success_share(self) -> float | None:
        return sum(self.successes) / self.completed if self.completed else None


KNOWN_CHECKS = frozenset(int(code) for code in FrameCheck)


def _code_label(code: int) -> str:
    return f"{FrameCheck(code).name.replace('_', ' ').lower()} ({code})" if code in KNOWN_CHECKS else str(code)


def compute(events: list[SessionEvent], replies: list[ReplyMessage], now: float, period: Period) -> Stats:
    step, count, fmt = period.layout
    start = (int(now) // step - count + 1) * step
    completed: dict[str, SessionEvent] = {}
    for event in events:  # at-least-once: the last word on a session counts once
        if event.outcome is not SessionOutcome.DISCONNECTED and event.at >= start:
            completed[event.session_id] = event
    ok, bad = [0] * count, [0] * count
    for event in completed.values():
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
    frames = [event.frames for event in completed.values()]
    buckets = tuple((f"{lo}-{hi}" if hi else f"{lo}+", sum(1 for n in frames if lo <= n <= (hi or n)))
                    for lo, hi in FRAME_BUCKETS)
    return Stats(
        period=period, labels=tuple(time.strftime(fmt, time.gmtime(start + i * step)) for i in range(count)),
        successes=tuple(ok), failures=tuple(bad), failed_checks=tuple(checks.most_common(15)),
        end_reasons=tuple(ends.most_common()), frames=buckets,
        frames_median=statistics.median(frames) if frames else None, skipped=0,
    )


async def read_since(redis: Redis, stream: str, kind: type[M], since: float) -> tuple[list[M], int]:
    """The decodable entries of ``stream`` added since ``since`` (epoch s), and how many were not."""
    found, skipped = [], 0
    for _, fields in await redis.xrange(stream, min=f"{int(since * 1000)}-0", count=READ_LIMIT):
        try:
            found.append(decode(kind, fields))
        except MessageDecodeError:
            skipped += 1
    return found, skipped


async def load(redis: Redis, session_events: str, decisions: str, now: float, period: Period) -> Stats:
    step, count, _ = period.layout
    since = (int(now) // step - count + 1) * step
    events, skipped_events = await read_since(redis, session_events, SessionEvent, since)
    replies, skipped_replies = await read_since(redis, decisions, ReplyMessage, since)
    return replace(compute(events, replies, now, period), skipped=skipped_events + skipped_replies)


@stats.get("/")
async def index() -> ResponseReturnValue:
    context = admin_context()
    chosen = request.args.get("period", "")
    period = Period(chosen) if chosen in {p.value for p in Period} else Period.DAY
    result = await load(context.redis, context.keys.session_events, context.keys.decisions, time.time(), period)
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
    )
