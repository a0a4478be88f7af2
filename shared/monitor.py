"""The process's periodic sampler, on its own task so a scrape never waits on Redis: it pings
Redis (readiness, ``vigil_redis_up``, reconnects) and samples the length, the consumer-group lag
and the pending entries of the streams the process consumes, and the length of their dead-letter
streams, every ``metrics.sample_interval_s``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
from redis.asyncio import Redis

from shared.bus import ping as bus_ping
from shared.bus import text
from shared.errors import BusRefused, BusUnavailable
from shared.health import HEALTH, Health
from shared.keys import Keys
from shared.metrics import (
    GROUP_LAG,
    GROUP_PENDING,
    REDIS_ERRORS,
    REDIS_RECONNECTS,
    REDIS_UP,
    STREAM_LENGTH,
    stream_label,
)

log = logging.getLogger(__name__)

# A Redis that takes longer than this to answer PING cannot serve frames in their 300 ms budget:
# as good as down for readiness.
PING_TIMEOUT_S = 2.0

Watched = tuple[str, str]  # (stream, group)


async def monitor(redis: Redis, keys: Keys, watched: Sequence[Watched], interval_s: float,
                  health: Health = HEALTH) -> None:
    """Run until cancelled."""
    was_up: bool | None = None
    while True:
        up = await ping(redis, health)
        if up and was_up is False:
            REDIS_RECONNECTS.inc()
            log.info("redis answers again")
        was_up = up
        if up and watched:
            try:
                await sample(redis, keys, watched)
            except BusUnavailable as exc:
                REDIS_ERRORS.labels("monitor").inc()
                log.debug("stream sample skipped: %s", exc)
        await anyio.sleep(interval_s)


async def ping(redis: Redis, health: Health = HEALTH) -> bool:
    try:
        await bus_ping(redis, timeout_s=PING_TIMEOUT_S)
    except BusUnavailable as exc:
        REDIS_UP.set(0)
        REDIS_ERRORS.labels("monitor").inc()
        health.redis_answered(f"{exc.__class__.__name__}: {exc}"[:200])
        return False
    REDIS_UP.set(1)
    health.redis_answered(None)
    return True


async def sample(redis: Redis, keys: Keys, watched: Sequence[Watched]) -> None:
    streams = sorted({stream for stream, _ in watched})
    for stream in streams:
        for key in (stream, keys.dead_letter(stream)):
            STREAM_LENGTH.labels(stream_label(keys.prefix, key)).set(await redis.xlen(key))
        groups = {group for watched_stream, group in watched if watched_stream == stream}
        try:
            infos = await redis.xinfo_groups(stream) if await redis.exists(stream) else []
        except BusRefused as exc:  # deleted between the two commands
            log.debug("no groups for %s: %s", stream, exc)
            continue
        for info in infos:
            group = text(info["name"])
            if group not in groups:
                continue
            label = stream_label(keys.prefix, stream)
            GROUP_PENDING.labels(label, group).set(int(info["pending"]))
            # Redis cannot say the lag after some trims (None): the last value stays rather than a guess.
            if info.get("lag") is not None:
                GROUP_LAG.labels(label, group).set(int(info["lag"]))
