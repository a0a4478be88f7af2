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
from shared.bus import wait_idle
from shared.errors import SystemCode
from shared.keys import Group, Keys
from shared.lpproto import Command
from tests import media
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
