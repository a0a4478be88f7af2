"""Abuse limits (services/ingress/limits.py, shared/abuse.py): on a real Redis with a fake clock,
each limit and its lifting; then through real processes: a device that keeps failing is refused
with ERROR 1022, retry-after and close 4007, while another device at the same address is served."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient
from infra.redis_server import RedisServer
from services.ingress.limits import Client, Limits
from shared import abuse
from shared.abuse import Scope
from shared.errors import LimitedError, SystemCode
from shared.keys import Keys
from shared.lpproto import Command
from shared.settings import Env, Settings
from tests import media
from tests.stack import Stack


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def limits(redis: Redis, **abuse_settings: object) -> tuple[Limits, Keys, Clock]:
    keys, clock = Keys(f"t{uuid.uuid4().hex[:12]}"), Clock()
    settings = Settings(env=Env.DEVELOPMENT, abuse=abuse_settings)
    return Limits(redis, keys, settings, clock), keys, clock


@pytest.mark.anyio
async def test_a_failing_device_is_blocked_its_neighbour_is_not_and_an_admin_can_lift_it(redis: Redis) -> None:
    gate, keys, clock = limits(redis, max_failures_per_device=3, max_failures_per_address=10, window_s=60,
                               block_s=600)
    bad, good = Client("10.0.0.1", device="phone-1"), Client("10.0.0.1", device="phone-2")
    for n in range(3):
        await gate.admit(bad)
        await gate.failed(bad, f"s{n}")
        clock.now += 5
    with pytest.raises(LimitedError) as refused:
        await gate.admit(bad)
    assert refused.value.code is SystemCode.LIMITED
    assert 590 <= refused.value.retry_after_s <= 600
    await gate.admit(good)  # same address, another device: 3 address failures of 10
    [block] = await abuse.blocks(redis, keys)
    assert (block.scope, block.failures, block.until - block.since) == (Scope.DEVICE, 3, 600)
    assert block.value != "phone-1"  # stored hashed
    assert await abuse.lift(redis, keys, block.scope, block.value)
    await gate.admit(bad)
    assert await abuse.refusals(redis, keys) == {"blocked": 1}


@pytest.mark.anyio
async def test_failures_outside_the_window_do_not_count(redis: Redis) -> None:
    gate, _, clock = limits(redis, max_failures_per_device=2, window_s=60)
    client = Client("10.0.0.2", user="customer-42")
    await gate.failed(client, "a")
    clock.now += 61
    await gate.failed(client, "b")
    await gate.admit(client)  # one failure in the last minute
    await gate.failed(client, "c")
    with pytest.raises(LimitedError, match="from this user"):
        await gate.admit(client)


@pytest.mark.anyio
async def test_open_and_new_sessions_per_address(redis: Redis) -> None:
    gate, keys, _ = limits(redis, max_sessions_per_address=2, max_new_sessions_per_minute=3)
    client = Client("192.0.2.7")
    for session in ("a", "b"):
        await gate.admit(client)
        await gate.opened(client, session)
    with pytest.raises(LimitedError, match="2 sessions open"):
        await gate.admit(client)
    await gate.closed(client, "a")
    await gate.admit(client)  # the third new session this minute
    with pytest.raises(LimitedError, match="over 3 new sessions a minute") as refused:
        await gate.admit(client)
    assert 1 <= refused.value.retry_after_s <= 60
    await Limits(redis, keys, Settings(env=Env.DEVELOPMENT, abuse={"is_enabled": False})).admit(client)
    assert await abuse.refusals(redis, keys) == {"rate": 1, "sessions": 1}


@pytest.mark.anyio
async def test_the_admin_lists_a_block_and_lifts_it(settings: Settings, redis: Redis) -> None:
    from admin.app import create_app
    from admin.config import AdminPolicy
    from tests.admin_support import cheap_hasher, signed_in_administrator

    keys = Keys(settings.redis.key_prefix)
    gate = Limits(redis, keys, settings.model_copy(update={"abuse": settings.abuse.model_copy(
        update={"max_failures_per_device": 1})}))
    client = Client("203.0.113.9", device="kiosk-3")
    await gate.failed(client, "s1")
    with pytest.raises(LimitedError):
        await gate.admit(client)
    admin = await signed_in_administrator(create_app(settings, redis, AdminPolicy(password_hasher=cheap_hasher())))
    page = await admin.text("/limits/")
    [block] = await abuse.blocks(redis, keys)
    assert block.value in page
    assert "client blocked" in page  # the refusal, counted
    response = await admin.post("/limits/lift", {"scope": "device", "value": block.value}, page="/limits/")
    assert response.status_code == 302
    assert f"Lifted the block of {block.value}." in await admin.text(response.headers["Location"])
    assert await abuse.blocks(redis, keys) == []
    await gate.admit(client)
    assert "lifted" in await admin.text("/")  # the home page's recent actions


# ---- through real processes ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Each session fails on its first frame (max_attempts 1): two failures block a device.
    running = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("stack"),
                    VIGIL_ABUSE__IS_ENABLED="true", VIGIL_SESSION__MAX_ATTEMPTS="1",
                    VIGIL_ABUSE__MAX_FAILURES_PER_DEVICE="2",
                    VIGIL_ABUSE__BLOCK_S="900")
    running.start_all()
    yield running
    running.stop()


async def failed_session(url: str, device: str, frame: bytes) -> None:
    async with LPClient(url) as client:
        assert (await client.connect(extra={"device-id": device})).command is Command.CONNECTED
        await client.frame(frame)
        with pytest.raises(ConnectionClosed) as closed, anyio.fail_after(10):
            await client.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4002


@pytest.mark.anyio
async def test_a_device_that_keeps_failing_is_refused_and_another_is_served(stack: Stack, data_dir: Path) -> None:
    frame = media.face_jpeg(data_dir)
    for _ in range(2):
        await failed_session(stack.ws_url, "device-under-test", frame)
    async with LPClient(stack.ws_url) as client:
        reply = await client.connect(extra={"device-id": "device-under-test"})
        assert reply.command is Command.ERROR
        assert reply.message.headers["error"] == str(int(SystemCode.LIMITED))
        assert 800 < int(reply.message.headers["retry-after"]) <= 900
        with pytest.raises(ConnectionClosed) as closed, anyio.fail_after(10):
            await client.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4007
    async with LPClient(stack.ws_url) as other:  # same address (127.0.0.1), another device
        assert (await other.connect(extra={"device-id": "someone-else"})).command is Command.CONNECTED
