"""Workers on another host join the same streams (issue 14, part 3). Host A is this network
namespace: Redis (bound to the veth address only) and the ingress. Host B is a namespace of its
own (infra/netns.py) that reaches host A over the veth pair and nothing else: the estimator and
the decider run there. Sessions succeed; an estimator killed on host B leaves frames pending, and
an estimator started on host A claims them, so every client still gets its answer."""

from __future__ import annotations

import secrets
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from infra.client import LPClient
from infra.netns import SecondHost, can_make_hosts
from infra.redis_server import RedisServer
from shared.keys import Group, Keys
from shared.lpproto import Command
from shared.redis_connect import VigilRedis
from tests import media
from tests.needs import unavailable
from tests.stack import Stack

CLIENTS = 4


def reaches(host: SecondHost, address: str, port: int) -> bool:
    """Whether a process on host B can open a TCP connection to ``address:port``."""
    probe = f"import socket; socket.create_connection(({address!r}, {port}), timeout=1).close()"
    done = subprocess.run([*host.prefix, sys.executable, "-c", probe], capture_output=True, timeout=20, check=False)
    return done.returncode == 0


async def pending_of(redis: Redis, keys: Keys, consumer: str) -> int:
    entries = await redis.xpending_range(keys.frames, Group.ESTIMATOR, min="-", max="+", count=100,
                                         consumername=consumer)
    return len(entries)


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.timeout(180)
async def test_workers_on_another_host_serve_sessions(tmp_path: Path, data_dir: Path) -> None:
    if (problem := can_make_hosts()) is not None:
        unavailable(problem)
    prefix = f"t{uuid.uuid4().hex[:12]}"
    keys = Keys(prefix)
    frame = media.neutral_jpeg(data_dir)
    with SecondHost() as host:
        server = RedisServer(tmp_path / "redis", persist=False, password=secrets.token_urlsafe(24),
                             bind=host.local_address)
        server.start()
        stack = Stack(server.url, prefix, tmp_path / "stack", VIGIL_SESSION__AGGREGATE_FRAMES="3",
                      VIGIL_INGRESS__REPLY_TIMEOUT_S="30")
        redis = VigilRedis.from_url(server.url)
        try:
            # Host B sees host A's Redis over the veth, and has no other way to it.
            assert reaches(host, host.local_address, server.port)
            assert not reaches(host, "127.0.0.1", server.port)

            stack.start("ingress")
            remote = stack.start("estimator", host=host.prefix)
            stack.start("decider", host=host.prefix)
            stack.wait_ready(("ingress", "estimator", "decider"))

            # 1. A whole session, estimated and decided on host B.
            async with LPClient(stack.ws_url) as client:
                await client.connect()
                replies = [await client.frame(frame) for _ in range(3)]
            assert replies[-1].command is Command.SUCCESS
            consumers = await redis.xinfo_consumers(keys.frames, Group.ESTIMATOR)
            assert [c["name"].decode() for c in consumers] == [f"{socket.gethostname()}:{remote.pid}"]

            # 2. The estimator on host B dies holding frames; one on host A claims them.
            answers: list[Command] = []

            async def person() -> None:
                async with LPClient(stack.ws_url) as lp:
                    await lp.connect()
                    for _ in range(3):
                        answers.append((await lp.frame(frame)).command)

            remote_name = f"{socket.gethostname()}:{remote.pid}"
            async with anyio.create_task_group() as tasks:
                for _ in range(CLIENTS):
                    tasks.start_soon(person)
                with anyio.fail_after(30):
                    while not await pending_of(redis, keys, remote_name):
                        await anyio.sleep(0.001)
                remote.send_signal(signal.SIGKILL)
                remote.wait()
                orphaned = await pending_of(redis, keys, remote_name)
                stack.start("estimator")  # on host A
            assert orphaned > 0, "the killed estimator should have left frames pending"
            assert len(answers) == CLIENTS * 3
            assert set(answers) <= {Command.STATS, Command.SUCCESS}, answers
            assert await pending_of(redis, keys, remote_name) == 0
        finally:
            await redis.aclose()
            stack.stop()
            server.stop()
