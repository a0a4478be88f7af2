"""How a consumer service process runs: logging, settings, its consumers until stopped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
from redis.asyncio import Redis

from shared.consumer import Consumer
from shared.logs import setup_logging
from shared.settings import Settings, load_settings


async def run_consumers(redis: Redis, consumers: Sequence[Consumer[Any]]) -> None:
    """Run every consumer until cancelled, then close the Redis client."""
    try:
        async with anyio.create_task_group() as tasks:
            for consumer in consumers:
                tasks.start_soon(consumer.run)
    finally:
        await redis.aclose()


def serve(run: Callable[[Settings], Awaitable[None]]) -> None:
    """The body of every service's ``main()``: one Settings object, built once, passed down."""
    setup_logging()
    anyio.run(run, load_settings())
