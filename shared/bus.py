"""Redis connection, bounded publishing and idleness checks shared by every service."""

from __future__ import annotations

import time

import anyio
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared import redis_connect
from shared.messages import Message, encode
from shared.settings import Settings

# Redis cannot take the command now: unreachable, too slow, or full (maxmemory with noeviction
# refuses writes until trimming frees room). Wait and retry, or answer 1017: never a bug to crash on.
REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError, OutOfMemoryError)
# The same plus a raw socket error, where nothing but Redis does I/O inside the ``try``.
REDIS_OR_SOCKET_UNAVAILABLE: tuple[type[Exception], ...] = (*REDIS_UNAVAILABLE, OSError)


def connect(settings: Settings) -> Redis:
    """A client for the process's Redis, through the one factory (shared/redis_connect.py)."""
    return redis_connect.connect(settings.redis)


async def publish(redis: Redis, stream: str, message: Message, *, maxlen: int) -> str:
    """XADD ``message`` to ``stream``, trimming it to about ``maxlen`` entries."""
    entry_id = await redis.xadd(stream, encode(message), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def is_idle(redis: Redis, stream: str, group: str) -> bool:
    """True when ``group`` has read every entry of ``stream`` and acknowledged them all."""
    if not await redis.exists(stream):
        return True
    info = await redis.xinfo_stream(stream)
    last = info["last-generated-id"]
    for entry in await redis.xinfo_groups(stream):
        if text(entry["name"]) == group:
            return int(entry["pending"]) == 0 and stream_id(entry["last-delivered-id"]) >= stream_id(last)
    return int(info["length"]) == 0


async def backlog(redis: Redis, stream: str, group: str, *, cap: int = 10_000) -> int:
    """Entries of ``stream`` that ``group`` has not finished: not yet delivered (the lag) plus
    delivered and not acknowledged (pending). Counted up to about ``cap`` when Redis cannot say
    the lag (it cannot after some trims), so the check stays cheap."""
    if not await redis.exists(stream):
        return 0
    for entry in await redis.xinfo_groups(stream):
        if text(entry["name"]) == group:
            lag = entry.get("lag")
            if lag is None:
                after = f"({text(entry['last-delivered-id'])}"
                lag = len(await redis.xrange(stream, min=after, max="+", count=cap))
            return int(lag) + int(entry["pending"])
    return int(await redis.xlen(stream))


async def wait_idle(redis: Redis, streams: dict[str, str], *, timeout: float = 30.0) -> None:
    """Wait until every ``stream: group`` pair is idle (tests use this instead of sleeping)."""
    deadline = time.monotonic() + timeout
    while True:
        states = [await is_idle(redis, stream, group) for stream, group in streams.items()]
        if all(states):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"streams not idle after {timeout}s: {streams}")
        await anyio.sleep(0.02)


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def stream_id(value: bytes | str) -> tuple[int, int]:
    millis, _, seq = text(value).partition("-")
    return int(millis), int(seq or 0)


async def publish_many(redis: Redis, entries: list[tuple[str, Message]], *, maxlen: int) -> None:
    """XADD several messages in one round trip (each stream trimmed to about ``maxlen``)."""
    async with redis.pipeline(transaction=False) as pipe:
        for stream, message in entries:
            pipe.xadd(stream, encode(message), maxlen=maxlen, approximate=True)  # type: ignore[arg-type]
        await pipe.execute()
