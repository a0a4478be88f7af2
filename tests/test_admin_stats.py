"""Statistics time metrics: per-stage and round-trip p50/p95 of frames, session duration and
frames per session, from typed messages written to real Redis streams with known entry times."""

from __future__ import annotations

import html
import time
import uuid
from collections.abc import Sequence

import pytest
from redis.asyncio import Redis

from admin import stats, streams
from admin.app import create_app
from admin.config import AdminPolicy
from admin.streams import read_window
from admin.timing import ROUND_TRIP, TO_DECISION, TO_ESTIMATION, TOTAL, compute_times, percentile
from shared.keys import Keys
from shared.messages import (
    EstimationMessage,
    Message,
    ReplyKind,
    ReplyMessage,
    SessionEnd,
    SessionEvent,
    SessionOutcome,
    encode,
)
from shared.settings import Settings
from tests.admin_support import Browser, cheap_hasher, signed_in_administrator

PASSWORD = "correct horse battery"
FRAMES = 21  # frames 1..21 with stage times n, 10n ms: p50 = the 11th, p95 = the 20th, exactly
DURATIONS_S = (4.0, 8.0, 12.0, 25.0, 100.0)  # p50 12, p95 25 + 0.8 * 75 = 85


@pytest.fixture
async def admin(settings: Settings, redis: Redis) -> Browser:
    return await signed_in_administrator(create_app(settings, redis, AdminPolicy(password_hasher=cheap_hasher())),
                                         password=PASSWORD)


def estimation(session: str, n: int, received_ms: int, *, decode_ms: float | None = None) -> EstimationMessage:
    timings = {"decode": float(n) if decode_ms is None else decode_ms, "detect": 10.0 * n}
    if n % 2:  # a stage that runs on some frames only counts over those
        timings["liveness"] = 100.0
    return EstimationMessage(session_id=session, request_id=f"r{n}", frame_no=n, frame_width=640, frame_height=480,
                             received_at=received_ms / 1000, timings=timings)


def answer(session: str, frame_no: int, *, end: SessionEnd | None = None) -> ReplyMessage:
    return ReplyMessage(session_id=session, request_id=f"r{frame_no}", frame_no=frame_no,
                        kind=ReplyKind.SUCCESS if end is SessionEnd.SUCCESS else ReplyKind.STATS, end=end)


async def add_at(redis: Redis, stream: str, entries: Sequence[tuple[int, Message]]) -> None:
    """XADD each message with the entry id of its time (ms), as if written then."""
    for seq, (ms, message) in enumerate(sorted(entries, key=lambda entry: entry[0])):
        await redis.xadd(stream, encode(message), id=f"{ms}-{seq}")  # type: ignore[arg-type]


async def fill(redis: Redis, keys: Keys, base_ms: int) -> None:
    """Session "a": 21 analysed frames; frame n arrives at base + 1 s * n, is estimated n ms later
    and decided 2n ms after that. Five more sessions of known durations, one not measurable."""
    a = "a" + uuid.uuid4().hex
    estimations: list[tuple[int, Message]] = []
    decisions: list[tuple[int, Message]] = []
    for n in range(1, FRAMES + 1):
        received = base_ms + 1000 * n
        estimations.append((received + n, estimation(a, n, received)))
        decisions.append((received + 3 * n, answer(a, n, end=SessionEnd.SUCCESS if n == FRAMES else None)))
    # Frame 3 redelivered and analysed again, slowly: a frame counts once, by its first analysis.
    estimations.append((base_ms + 1000 * FRAMES + 500, estimation(a, 3, base_ms + 3000, decode_ms=999)))
    events = [SessionEvent(session_id=a, outcome=SessionOutcome.SUCCESS, at=base_ms / 1000 + 30, frames=FRAMES)]
    for k, seconds in enumerate(DURATIONS_S[1:]):
        session, first_ms = f"s{k}-{uuid.uuid4().hex}", base_ms + 40_000 + 1000 * k
        decisions.append((first_ms, answer(session, 1)))
        events.append(SessionEvent(session_id=session, outcome=SessionOutcome.FAILED,
                                   at=(first_ms + seconds * 1000) / 1000, frames=(5, 9, 30, 60)[k]))
    # Session "a" lasted 4 s from its first answer (frame 1 decided at base + 1003 ms).
    events[0] = events[0].model_copy(update={"at": (base_ms + 1003 + 4000) / 1000})
    events.append(SessionEvent(session_id="unmeasured", outcome=SessionOutcome.FAILED, at=base_ms / 1000 + 60,
                               frames=3))  # its first answer is not in the stream
    events.append(SessionEvent(session_id="dropped", outcome=SessionOutcome.DISCONNECTED, at=base_ms / 1000 + 61,
                               frames=2))
    await add_at(redis, keys.estimations, estimations)
    await add_at(redis, keys.decisions, decisions)
    for event in events:
        await redis.xadd(keys.session_events, encode(event))  # type: ignore[arg-type]


def test_percentile_interpolates_between_closest_ranks() -> None:
    assert percentile(list(range(1, 101)), 0.5) == pytest.approx(50.5)
    assert percentile(list(range(1, 101)), 0.95) == pytest.approx(95.05)
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([20.0, 10.0], 0.95) == pytest.approx(19.5)
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


@pytest.mark.anyio
async def test_time_metrics_from_known_entry_times(redis: Redis, keys: Keys) -> None:
    base_ms = int(time.time() * 1000) - 600_000
    await fill(redis, keys, base_ms)
    result = await stats.load(redis, keys, time.time(), stats.Period.DAY)
    times = result.times
    assert times is not None
    spread = {s.name: s for s in times.stages}
    assert list(spread) == ["decode", "detect", "liveness", TOTAL]  # the estimator's order, then the total
    assert (spread["decode"].count, spread["decode"].p50, spread["decode"].p95) == (FRAMES, 11, 20)
    assert (spread["detect"].p50, spread["detect"].p95) == (110, 200)
    assert spread["liveness"].count == 11  # the odd frames
    assert (spread[TOTAL].p50, spread[TOTAL].p95) == (176, 309)  # 11n, plus 100 on odd frames
    trip = {s.name: s for s in times.round_trip}
    assert trip[TO_ESTIMATION].count == FRAMES
    assert (trip[TO_ESTIMATION].p50, trip[TO_ESTIMATION].p95) == pytest.approx((11, 20), abs=1e-3)
    assert (trip[TO_DECISION].p50, trip[TO_DECISION].p95) == pytest.approx((22, 40), abs=1e-3)
    assert (trip[ROUND_TRIP].p50, trip[ROUND_TRIP].p95) == pytest.approx((33, 60), abs=1e-3)
    assert times.duration is not None
    assert times.duration.count == len(DURATIONS_S)
    assert (times.duration.p50, times.duration.p95) == pytest.approx((12, 85), abs=1e-3)
    assert times.unmeasured == 1
    assert dict(times.durations) == {"<5 s": 1, "5-10 s": 1, "10-20 s": 1, "20-30 s": 1, "30-60 s": 0,
                                     "1-2 min": 1, "2 min+": 0}
    assert result.frames_median == 15  # frames 3, 5, 9, 21, 30, 60
    assert result.frames_p95 == pytest.approx(52.5)
    assert result.cut_short == ()


@pytest.mark.anyio
async def test_statistics_page_shows_the_time_metrics(admin: Browser, redis: Redis, keys: Keys) -> None:
    await fill(redis, keys, int(time.time() * 1000) - 600_000)
    for period in ("day", "week"):
        response = await admin.get(f"/statistics/?period={period}")
        page = html.unescape(await response.get_data(as_text=True))
        assert response.status_code == 200
        assert page.count("<svg") == 8
        row = '<tr><th scope="row">{}</th><td>{}</td><td>{}</td><td>{}</td></tr>'
        assert row.format("decode", FRAMES, "11.0", "20.0") in page
        assert row.format("detect", FRAMES, "110.0", "200.0") in page
        assert row.format(TOTAL, FRAMES, "176.0", "309.0") in page
        assert row.format(ROUND_TRIP, FRAMES, "33.0", "60.0") in page
        assert row.format(TO_DECISION, FRAMES, "22.0", "40.0") in page
        assert "Time per frame by estimator stage, p50 / p95 (ms)" in page
        assert "decode p95: 20.0 ms" in page  # the chart's own bar
        assert '<p class="big">12.0 s</p>' in page
        assert "p95 85.0 s" in page
        assert "p95 52.5" in page
        assert "<5 s: 1" in page
        assert "1-2 min: 1" in page
        assert "1 sessions whose first frame was answered before the window read" in page
        assert "Only the newest" not in page


@pytest.mark.anyio
async def test_a_capped_read_keeps_the_newest_and_says_so(admin: Browser, redis: Redis, keys: Keys,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    await fill(redis, keys, int(time.time() * 1000) - 600_000)
    monkeypatch.setattr(stats, "ESTIMATIONS_LIMIT", 5)
    page = html.unescape(await admin.text("/statistics/"))
    assert "Only the newest 5 estimations of the period were read, since" in page
    assert '<tr><th scope="row">decode</th><td>5</td>' in page


@pytest.mark.anyio
async def test_read_window_pages_newest_first_and_reports_the_cap(redis: Redis, keys: Keys,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "PAGE", 2)  # several pages even for a few entries
    base = int(time.time() * 1000) - 60_000
    await add_at(redis, keys.decisions, [(base - 3_600_000, answer("old", 1))]
                 + [(base + n, answer("s", n)) for n in range(1, 8)])
    await redis.xadd(keys.decisions, {b"m": b"\xc1 not msgpack"})
    since = (base - 1000) / 1000
    everything = await read_window(redis, keys.decisions, ReplyMessage, since, 100)
    assert [m.frame_no for m in everything.messages] == [1, 2, 3, 4, 5, 6, 7]  # oldest first, "old" before since
    assert (everything.skipped, everything.truncated) == (1, False)
    newest = await read_window(redis, keys.decisions, ReplyMessage, since, 4)
    assert [m.frame_no for m in newest.messages] == [5, 6, 7]  # the 4th newest entry is the undecodable one
    assert (newest.skipped, newest.truncated, newest.since_ms) == (1, True, base + 5)
    exact = await read_window(redis, keys.decisions, ReplyMessage, since, 8)
    assert exact.truncated is False


def test_no_entries_no_time_figures() -> None:
    times = compute_times([], [], [])
    assert times.stages == ()
    assert times.round_trip == ()
    assert times.duration is None
