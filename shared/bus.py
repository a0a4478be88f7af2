"""The bus toolkit every process uses on Redis: connection, back-off, typed publishing, paged
range reads, waits on a stream until a predicate or a deadline, idleness checks.

Services keep only their predicates and their message types; the XADD, XREAD and XRANGE
plumbing, with redis-py's loose typing, lives here once. "Redis is down" is one exception,
``shared.errors.BusUnavailable`` (``BusFull`` when Redis is at its memory bound): the client from
``connect`` raises it in place of redis-py's errors (shared/redis_connect.py), so a service waits
and retries on it, or answers 1017, and never catches redis-py's exceptions.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

import anyio
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.typing import EncodableT, FieldT

from shared import redis_connect
from shared.errors import BusUnavailable
from shared.messages import M, Message, decode, encode
from shared.settings import Settings

Fields = dict[bytes, bytes]
Entry = tuple[str, Fields]
RANGE_PAGE = 1000  # entries per XRANGE round trip when paging through a whole stream


def connect(settings: Settings) -> Redis:
    """A client for the process's Redis, through the one factory (shared/redis_connect.py)."""
    return redis_connect.connect(settings.redis)


async def ping(redis: Redis, *, timeout_s: float | None = None) -> None:
    """PING; ``BusUnavailable`` when Redis does not answer (within ``timeout_s``, when given)."""
    try:
        with anyio.fail_after(timeout_s):
            await cast(Awaitable[bool], redis.ping())  # redis-py types sync|async clients as one union
    except TimeoutError:
        raise BusUnavailable(f"no answer to PING within {timeout_s:g} s") from None


@dataclass(slots=True)
class Backoff:
    """The wait between retries while Redis is unavailable: doubles from ``first_s`` up to
    ``most_s``, and starts again from ``first_s`` once Redis answered (``reset``)."""

    first_s: float = 0.1
    most_s: float = 5.0
    delay_s: float = field(init=False)

    def __post_init__(self) -> None:
        self.delay_s = self.first_s

    def reset(self) -> None:
        self.delay_s = self.first_s

    async def sleep(self) -> None:
        await anyio.sleep(self.delay_s)
        self.delay_s = min(self.delay_s * 2, self.most_s)


def entry_fields(message: Message) -> dict[FieldT, EncodableT]:
    """``encode(message)`` as redis-py's XADD is typed to take it (its wider key and value unions)."""
    return {name: value for name, value in encode(message).items()}


def add(pipe: Pipeline, stream: str, message: Message, *, maxlen: int) -> None:
    """Queue an XADD of ``message`` to ``stream`` on ``pipe``, trimming it to about ``maxlen`` entries."""
    pipe.xadd(stream, entry_fields(message), maxlen=maxlen, approximate=True)


async def publish(redis: Redis, stream: str, message: Message, *, maxlen: int) -> str:
    """XADD ``message`` to ``stream``, trimming it to about ``maxlen`` entries."""
    entry_id = await redis.xadd(stream, entry_fields(message), maxlen=maxlen, approximate=True)
    return text(entry_id)


async def publish_many(redis: Redis, entries: list[tuple[str, Message]], *, maxlen: int) -> None:
    """XADD several messages in one round trip (each stream trimmed to about ``maxlen``)."""
    async with redis.pipeline(transaction=False) as pipe:
        for stream, message in entries:
            add(pipe, stream, message, maxlen=maxlen)
        await pipe.execute()


async def entries(redis: Redis, stream: str, *, first: str = "-", last: str = "+", newest_first: bool = False,
                  limit: int | None = None, page: int = RANGE_PAGE) -> AsyncIterator[Entry]:
    """The entries of ``stream`` with ids from ``first`` to ``last`` (inclusive, or exclusive with
    a ``(``), oldest first or ``newest_first``, at most ``limit``, ``page`` per round trip: a long
    stream is never held whole in one reply."""
    taken, low, high = 0, first, last
    while limit is None or taken < limit:
        want = page if limit is None else min(page, limit - taken)
        if newest_first:
            batch = await redis.xrevrange(stream, max=high, min=low, count=want)
        else:
            batch = await redis.xrange(stream, min=low, max=high, count=want)
        for entry_id, fields in batch:
            yield text(entry_id), fields
        taken += len(batch)
        if len(batch) < want:
            return
        after = f"({text(batch[-1][0])}"  # exclusive: go on past the last one read
        if newest_first:
            high = after
        else:
            low = after


@dataclass(slots=True)
class Cursor:
    """Where a reader of one stream by plain XREAD stands: the id of the last entry it has seen."""

    stream: str
    last_id: str = "0-0"


async def read_until(redis: Redis, cursor: Cursor, kind: type[M], done: Callable[[M], bool], *,
                     deadline: float, count: int) -> bool:
    """Read the cursor's stream by plain XREAD from the cursor on, each entry decoded as ``kind``
    and handed to ``done``, until ``done`` says the wait is over (True) or ``deadline`` (a
    ``time.monotonic`` time) passed (False). The cursor moves past each entry handed over."""
    # Whole milliseconds only: XREAD BLOCK 0 would wait for ever.
    while (remaining_ms := int((deadline - time.monotonic()) * 1000)) > 0:
        reply = await redis.xread({cursor.stream: cursor.last_id}, count=count, block=remaining_ms)
        for _, batch in reply or []:
            for entry_id, fields in batch:
                cursor.last_id = text(entry_id)
                if done(decode(kind, fields)):
                    return True
    return False


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


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def stream_id(value: bytes | str) -> tuple[int, int]:
    millis, _, seq = text(value).partition("-")
    return int(millis), int(seq or 0)
