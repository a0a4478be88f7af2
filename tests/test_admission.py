"""Graceful overload (services/ingress/admission.py): the limit's growth and shrinking on a fake
clock, then through real processes: a new session over the limit gets ERROR 1020 with
``retry-after`` and close 1013, a resumed session is always admitted, sessions already admitted
keep being answered when the limit shrinks under them."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient
from infra.redis_server import RedisServer
from services.ingress.admission import Admission
from shared.errors import OverloadedError, SystemCode
from shared.lpproto import Command
from shared.settings import AdmissionSettings
from tests import media
from tests.stack import Stack


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def admission(backlog: int = 0, **settings: object) -> tuple[Admission, Clock]:
    clock = Clock()

    async def frames_waiting() -> int:
        return backlog

    return Admission(AdmissionSettings.model_validate(settings), frames_waiting, clock), clock


async def review_after(gate: Admission, clock: Clock, reply_ms: float, seconds: float = 3.0) -> None:
    """Replies of ``reply_ms`` every 0.1 s for ``seconds``, then a review."""
    for _ in range(int(seconds * 10)):
        clock.now += 0.1
        gate.observe(reply_ms)
    await gate.review()


@pytest.mark.anyio
async def test_the_limit_grows_while_fast_and_wanted_and_shrinks_when_slow() -> None:
    gate, clock = admission(initial_sessions=2, min_sessions=1, window_s=4)
    gate.admit()
    gate.admit()
    with pytest.raises(OverloadedError) as refused:
        gate.admit()
    assert refused.value.code is SystemCode.OVERLOADED
    assert refused.value.retry_after_s == 5
    await review_after(gate, clock, reply_ms=50)  # fast, and someone was refused: one more
    assert gate.limit == 3
    gate.admit()
    await review_after(gate, clock, reply_ms=250)  # between 60 % and 85 % of the budget: hold
    assert gate.limit == 3
    await review_after(gate, clock, reply_ms=270)  # over 85 % of it: 3/4 of the sessions open
    assert gate.limit == pytest.approx(2.25)
    with pytest.raises(OverloadedError):
        gate.admit()
    gate.resumed()  # a session admitted before, coming back: counted, never refused
    assert gate.open == 4
    for _ in range(3):
        gate.left()
    gate.admit()  # one open, limit 2.25: room again


@pytest.mark.anyio
async def test_no_growth_without_demand_or_evidence_and_the_caps_hold() -> None:
    gate, clock = admission(initial_sessions=3, max_sessions=4)
    gate.admit()
    await review_after(gate, clock, reply_ms=10)
    assert gate.limit == 3  # one open of three: nobody was held back
    gate.admit()
    gate.admit()
    clock.now += 6  # past the window: the replies seen so far are forgotten
    await gate.review()
    assert gate.limit == 3  # held back, but fewer than 10 replies in the window: no evidence
    await review_after(gate, clock, reply_ms=10)
    await review_after(gate, clock, reply_ms=10)
    assert gate.limit == 4  # max_sessions
    crowded, clock = admission(backlog=100, initial_sessions=8, min_sessions=2)
    for _ in range(8):
        crowded.admit()
    await review_after(crowded, clock, reply_ms=10)  # fast replies, but 100 frames queued
    assert crowded.limit == 6
    assert crowded.last_backlog == 100
    off, _ = admission(is_enabled=False, initial_sessions=1)
    for _ in range(5):
        off.admit()


@pytest.mark.anyio
async def test_people_held_back_keep_the_limit_growing_until_they_are_due_back() -> None:
    gate, clock = admission(initial_sessions=2, retry_after_s=5, window_s=2)
    gate.admit()
    gate.admit()
    with pytest.raises(OverloadedError):
        gate.admit()  # at 0 s, told to come back after 5 s
    await review_after(gate, clock, reply_ms=150)  # 3 s
    await review_after(gate, clock, reply_ms=150, seconds=1.5)  # 4.5 s: still waiting to come back
    assert gate.limit == 4
    await review_after(gate, clock, reply_ms=150)  # 7.5 s: due back, and nobody knocked
    assert gate.limit == 4


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="p95_budget_ms"):
        AdmissionSettings(p95_budget_ms=0)
    with pytest.raises(ValueError, match="retry_after_s"):
        AdmissionSettings(retry_after_s=0)
    with pytest.raises(ValueError, match="grow_below_share must be under"):
        AdmissionSettings(grow_below_share=0.9, shrink_above_share=0.8)


# ---- through real processes ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Any reply is "slow" against a 1 ms budget: the limit can only shrink, down to one.
    running = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("stack"),
                    VIGIL_ADMISSION__IS_ENABLED="true", VIGIL_ADMISSION__INITIAL_SESSIONS="3",
                    VIGIL_ADMISSION__MIN_SESSIONS="1", VIGIL_ADMISSION__P95_BUDGET_MS="1",
                    VIGIL_ADMISSION__WINDOW_S="1", VIGIL_ADMISSION__RETRY_AFTER_S="7")
    running.start_all()
    yield running
    running.stop()


def health(stack: Stack) -> dict[str, object]:
    with urllib.request.urlopen(f"{stack.http_url}/health", timeout=5) as response:
        answer: dict[str, object] = json.loads(response.read())
        return answer


async def refused(url: str) -> tuple[dict[str, str], int | None]:
    """CONNECT a new session that must be refused: the ERROR's headers and the close code."""
    async with LPClient(url) as client:
        reply = await client.connect()
        assert reply.command is Command.ERROR, reply.message
        try:
            await client.receive()
        except ConnectionClosed as closed:
            return reply.message.headers, closed.rcvd.code if closed.rcvd else None
    raise AssertionError("the refused connection stayed open")


@pytest.mark.anyio
async def test_over_the_limit_new_sessions_are_refused_and_admitted_ones_keep_their_answers(
    stack: Stack, data_dir: Path,
) -> None:
    frame = media.face_jpeg(data_dir)
    async with LPClient(stack.ws_url) as a, LPClient(stack.ws_url) as b, LPClient(stack.ws_url) as c:
        for client in (a, b, c):
            assert (await client.connect()).command is Command.CONNECTED
        headers, code = await refused(stack.ws_url)  # the fourth: over the initial three
        assert headers["error"] == str(int(SystemCode.OVERLOADED))
        assert headers["retry-after"] == "7"
        assert code == 1013
        # Replies of tens of ms against the 1 ms budget: the limit shrinks under the open sessions...
        with anyio.fail_after(60):
            while health(stack)["sessions_limit"] == 3:
                for client in (a, b, c):
                    assert (await client.frame(frame)).command is Command.STATS
        assert health(stack)["sessions_open"] == 3
        # ...and none of them is dropped: each is still answered.
        for client in (a, b, c):
            assert (await client.frame(frame)).command is Command.STATS
        # A session admitted before comes back with its id (here on a second socket): admitted
        # whatever the limit, while a new one is still refused.
        async with LPClient(stack.ws_url) as again:
            assert (await again.connect(session_id=a.session_id)).command is Command.CONNECTED
            assert (await again.frame(frame)).command is Command.STATS
            assert health(stack)["sessions_open"] == 4
            _, code = await refused(stack.ws_url)
            assert code == 1013
    with anyio.fail_after(10):  # every socket closed: nobody counted any more
        while health(stack)["sessions_open"] != 0:
            await anyio.sleep(0.05)
