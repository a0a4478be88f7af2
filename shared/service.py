"""How a consumer service process runs: logging, settings, its monitoring endpoint, its consumers
until stopped."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
from redis.asyncio import Redis

from shared.consumer import Consumer
from shared.endpoint import endpoint
from shared.health import HEALTH
from shared.keys import Keys
from shared.live_settings import LiveSettings, apply_log_level
from shared.logs import setup_logging
from shared.monitor import monitor
from shared.settings import MetricsSettings, Settings, load_settings


async def live_settings(redis: Redis, keys: Keys, settings: Settings) -> LiveSettings:
    """The process's live settings, loaded before its consumers start (so the first frame already
    sees what operators stored), with the log level following its own tag."""
    live = LiveSettings(redis, keys, settings, block_ms=settings.bus.block_ms)
    apply_log_level(await live.start())
    live.on_own_change(apply_log_level)
    return live


async def run_consumers(redis: Redis, consumers: Sequence[Consumer[Any]], live: LiveSettings | None = None) -> None:
    """Run every consumer (and the live-settings watcher, and the monitor of their streams) until
    cancelled, then close the Redis client."""
    interval = (live.base.metrics if live is not None else MetricsSettings()).sample_interval_s
    watched = [(consumer.stream, consumer.group) for consumer in consumers]
    try:
        async with anyio.create_task_group() as tasks:
            if live is not None:
                tasks.start_soon(live.watch)
            for consumer in consumers:
                tasks.start_soon(consumer.run)
            if consumers:
                tasks.start_soon(monitor, redis, consumers[0].keys, watched, interval)
            HEALTH.mark_started()
    finally:
        await redis.aclose()


def serve(run: Callable[[Settings], Awaitable[None]], service: str) -> None:
    """The body of every service's ``main()``: one Settings object, built once, passed down; the
    monitoring endpoint answers (not ready) from the start, while models load."""
    settings = load_settings()
    setup_logging(settings.logging.level, settings.logging.format)

    async def run_with_endpoint() -> None:
        async with endpoint(settings.metrics, service):
            await run(settings)

    anyio.run(run_with_endpoint)
