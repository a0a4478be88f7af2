"""Idle sockets and the connection cap (services/ingress/connection.py, app.py): the idleness rule
on a fake clock, then through real processes: a socket that never sends CONNECT and a session that
stops sending frames are closed with ERROR 1021 and close 4006 (and the session resumes), and an
ingress at ``ingress.max_connections`` refuses one more socket with ERROR 1020 and close 1013."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import anyio
import pytest
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient, Reply
from infra.redis_server import RedisServer
from services.ingress.connection import Connection
from services.ingress.frames import FrameExchange
from services.ingress.sessions import SessionRegistry
from shared.errors import SystemCode
from shared.lpproto import Command
from shared.settings import Env, Settings
from tests import media
from tests.stack import Stack


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def never(*_: object) -> None:
    raise AssertionError("not called in this test")


def test_idleness_counts_from_open_connect_and_each_answer_never_during_a_frame() -> None:
    clock = Clock()
    settings = Settings(env=Env.DEVELOPMENT, ingress={"connect_timeout_s": 10, "idle_timeout_s": 60})
    # Nothing is sent, registered or published here: only the idleness rule is exercised.
    connection = Connection(settings, cast(SessionRegistry, None), cast(Callable[[str], FrameExchange], never),
                            never, never, clock=clock)
    clock.now += 10
    assert connection.idle(clock.now) is None
    clock.now += 0.5
    assert connection.idle(clock.now) == "no CONNECT within 10 s"
    connection.exchange = cast(FrameExchange, object())  # connected now
    connection.quiet_since = clock.now
    clock.now += 59
    assert connection.idle(clock.now) is None
    connection.in_flight = True  # a frame waiting for its decision is never idle
    clock.now += 100
    assert connection.idle(clock.now) is None
    connection.in_flight = False
    assert connection.idle(clock.now) == "no FRAME within 60 s"
    never_idle = Settings(env=Env.DEVELOPMENT, ingress={"idle_timeout_s": None})
    connection.settings = never_idle
    assert connection.idle(clock.now + 10_000) is None


# ---- through real processes ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("stack"),
                    VIGIL_INGRESS__CONNECT_TIMEOUT_S="1", VIGIL_INGRESS__IDLE_TIMEOUT_S="2",
                    VIGIL_INGRESS__MAX_CONNECTIONS="3")
    running.start_all()
    yield running
    running.stop()


async def closed_after(client: LPClient) -> tuple[Reply, int | None]:
    """The next message (it must be the ERROR before the close) and the close code."""
    with anyio.fail_after(10):
        message = await client.receive()
        try:
            await client.receive()
        except ConnectionClosed as closed:
            return message, closed.rcvd.code if closed.rcvd else None
    raise AssertionError("the idle connection stayed open")


@pytest.mark.anyio
async def test_a_socket_without_connect_and_a_session_without_frames_are_closed_and_the_session_resumes(
    stack: Stack, data_dir: Path,
) -> None:
    async with LPClient(stack.ws_url) as silent:
        message, code = await closed_after(silent)
    assert message.command is Command.ERROR
    assert message.message.headers["error"] == str(int(SystemCode.IDLE))
    assert "no CONNECT within 1 s" in message.message.headers["message"]
    assert code == 4006
    frame = media.face_jpeg(data_dir)
    async with LPClient(stack.ws_url) as quiet:
        assert (await quiet.connect()).command is Command.CONNECTED
        assert (await quiet.frame(frame)).command is Command.STATS
        message, code = await closed_after(quiet)
        session_id = quiet.session_id
    assert message.message.headers["error"] == str(int(SystemCode.IDLE))
    assert "no FRAME within 2 s" in message.message.headers["message"]
    assert code == 4006
    async with LPClient(stack.ws_url) as back:  # what the page does after 4006: resume and go on
        assert (await back.connect(session_id=session_id)).command is Command.CONNECTED
        assert (await back.frame(frame)).command is Command.STATS


@pytest.mark.anyio
async def test_one_socket_over_the_cap_is_refused_as_for_load(stack: Stack) -> None:
    async with LPClient(stack.ws_url) as a, LPClient(stack.ws_url) as b, LPClient(stack.ws_url) as c:
        for client in (a, b, c):
            assert (await client.connect()).command is Command.CONNECTED
        async with LPClient(stack.ws_url) as fourth:
            message, code = await closed_after(fourth)
    assert message.command is Command.ERROR
    assert message.message.headers["error"] == str(int(SystemCode.OVERLOADED))
    assert "3 connections open, limit 3" in message.message.headers["message"]
    assert "retry-after" in message.message.headers
    assert code == 1013
    async with LPClient(stack.ws_url) as later:  # the three are gone: room again
        assert (await later.connect()).command is Command.CONNECTED
