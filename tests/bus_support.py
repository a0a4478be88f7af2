"""Waits on the bus for tests: until consumer groups are idle, instead of sleeping."""

from __future__ import annotations

import time

import anyio
from redis.asyncio import Redis

from shared.bus import is_idle

POLL_S = 0.02  # a check costs a few commands; this keeps a wait well under a second past idleness


async def wait_idle(redis: Redis, streams: dict[str, str], *, timeout: float = 30.0) -> None:
    """Wait until every ``stream: group`` pair is idle."""
    deadline = time.monotonic() + timeout
    while True:
        states = [await is_idle(redis, stream, group) for stream, group in streams.items()]
        if all(states):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"streams not idle after {timeout}s: {streams}")
        await anyio.sleep(POLL_S)
