"""A killed estimator loses no frame: its pending frames are claimed by another estimator and
every client gets its reply. A frame nobody estimates is answered ERROR, never a hang."""

from __future__ import annotations

import signal
import socket
import uuid
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from infra.client import LPClient
from infra.redis_server import RedisServer
from shared.errors import SystemCode
from shared.keys import Group, Keys
from shared.lpproto import Command
from tests import media
from tests.bus_support import wait_idle
from tests.stack import Stack


@pytest.mark.anyio
async def test_sigkilled_estimator_loses_no_frame(
    redis_server: RedisServer, redis: Redis, tmp_path: Path, data_dir: Path,
) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    keys = Keys(prefix)
    stack = Stack(redis_server.url, prefix, tmp_path, VIGIL_INGRESS__REPLY_TIMEOUT_S="30")
    frame = media.face_jpeg(data_dir)
    replies: list[Command] = []
    try:
        stack.start_all()
        first = next(p for name, p in stack.processes if name == "estimator")
        first_name = f"{socket.gethostname()}:{first.pid}"

        async def client(frames: int) -> None:
            async with LPClient(stack.ws_url) as lp:
                await lp.connect()
                for _ in range(frames):
                    replies.append((await lp.frame(frame)).command)

        async with anyio.create_task_group() as tasks:
            for _ in range(4):
                tasks.start_soon(client, 3)
            # Kill the estimator while it holds frames it read but has not acknowledged.
            with anyio.fail_after(20):
                while True:
                    pending = await redis.xpending_range(keys.frames, Group.ESTIMATOR, min="-", max="+", count=100,
                                                         consumername=first_name)
                    if pending:
                        break
                    await anyio.sleep(0.001)
            stack.kill("estimator", signal.SIGKILL)
            orphaned = await redis.xpending_range(keys.frames, Group.ESTIMATOR, min="-", max="+", count=100,
                                                  consumername=first_name)
            assert orphaned, "the killed estimator should have left frames pending"
            stack.start("estimator")
        assert replies == [Command.STATS] * 12
        assert "claimed" in stack.logs("estimator")
        # The reply is written before the acknowledgement: wait for the group to settle.
        await wait_idle(redis, {keys.frames: Group.ESTIMATOR}, timeout=10)
        assert (await redis.xpending(keys.frames, Group.ESTIMATOR))["pending"] == 0
    finally:
        stack.stop()


@pytest.mark.anyio
async def test_no_estimator_means_a_timely_error(redis_server: RedisServer, tmp_path: Path, data_dir: Path) -> None:
    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path, VIGIL_INGRESS__REPLY_TIMEOUT_S="1")
    try:
        stack.start_all("ingress", "decider")
        async with LPClient(stack.ws_url) as client:
            await client.connect()
            with anyio.fail_after(5):
                reply = await client.frame(media.face_jpeg(data_dir))
            assert (reply.command, reply.error_code) == (Command.ERROR, SystemCode.PROCESSING_TIMEOUT)
    finally:
        stack.stop()


@pytest.mark.anyio
async def test_redis_restart_gives_a_clear_error_then_service_resumes(tmp_path: Path, data_dir: Path) -> None:
    server = RedisServer(tmp_path / "redis", persist=False)
    server.start()
    stack = Stack(server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path / "logs", VIGIL_INGRESS__REPLY_TIMEOUT_S="10")
    frame = media.face_jpeg(data_dir)
    try:
        stack.start_all()
        async with LPClient(stack.ws_url) as client:
            await client.connect()
            assert (await client.frame(frame)).command is Command.STATS
            await anyio.to_thread.run_sync(server.stop)
            with anyio.fail_after(10):
                down = await client.frame(frame)
            assert (down.command, down.error_code) == (Command.ERROR, SystemCode.BUS_UNAVAILABLE)
            # Redis comes back empty (no persistence): groups are recreated, the session goes on.
            await anyio.to_thread.run_sync(server.start)
            with anyio.fail_after(30):
                while True:
                    again = await client.frame(frame)
                    if again.command is Command.STATS:
                        break
                    assert again.error_code in (SystemCode.BUS_UNAVAILABLE, SystemCode.PROCESSING_TIMEOUT)
                    await anyio.sleep(0.2)
    finally:
        stack.stop()
        server.stop()
