"""The newest entries of a stream, one bounded page at a time: what operators' views read (the
admin panel's plugin-events, videos and dead-letters pages, ``vigil plugin-events``, ``vigil videos``).

A page reads at most ``size`` entries and one more id, newest first, so a long stream never makes
a view slow; the next (older) page starts strictly before the last entry shown, so pages neither
repeat nor skip an entry while new ones arrive. Entries that do not decode as the stream's
message are counted, not shown. ``newest`` decodes the stream's message type; ``newest_read`` takes
the reader of an entry's fields (a stream of plain fields, such as the dead letters).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from redis.asyncio import Redis

from shared.bus import Fields, entries, stream_id
from shared.errors import MessageDecodeError
from shared.messages import M, decode

# A stream entry id ("1700000000000-0"): a page cursor that came from a URL or a command line.
# ASCII digits only: \d would take any script's digits, which Redis refuses.
ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")
MAX_PAGE = 500  # the most entries one page may ask for, whatever the caller says

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Recent(Generic[T]):
    entry_id: str
    at_ms: int  # when Redis added the entry (the id's time part)
    message: T


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: tuple[Recent[T], ...]  # newest first
    skipped: int  # entries that did not decode as the stream's message
    older: str | None  # the cursor of the next, older page; None when this page reaches the oldest entry


def is_entry_id(value: str) -> bool:
    """An id Redis accepts: both parts are unsigned 64-bit numbers (a larger one is a Redis error)."""
    return ENTRY_ID.fullmatch(value) is not None and max(stream_id(value)) < 2**64


async def newest(redis: Redis, stream: str, kind: type[M], *, size: int, before: str | None = None) -> Page[M]:
    """Up to ``size`` (at most ``MAX_PAGE``) entries of ``stream`` decoded as ``kind``, newest first,
    all older than the entry id ``before`` when given (a ``Page.older`` of an earlier call)."""

    def parse(fields: Fields) -> M:
        return decode(kind, fields)

    return await newest_read(redis, stream, parse, size=size, before=before)


async def newest_read(redis: Redis, stream: str, parse: Callable[[Fields], T], *, size: int,
                      before: str | None = None) -> Page[T]:
    """As ``newest``, each entry's fields read by ``parse`` (``MessageDecodeError``: counted, not shown)."""
    if before is not None and not is_entry_id(before):
        raise ValueError(f"not a stream entry id: {before!r}")
    size = max(1, min(size, MAX_PAGE))
    items: list[Recent[T]] = []
    skipped, read, last = 0, 0, ""
    # One more than the page tells whether older entries remain.
    async for entry_id, fields in entries(redis, stream, last=f"({before}" if before else "+", newest_first=True,
                                          limit=size + 1):
        read += 1
        if read > size:
            continue  # the one past the page (the last the read yields): only says that more remain
        last = entry_id
        try:
            items.append(Recent(entry_id, stream_id(entry_id)[0], parse(fields)))
        except MessageDecodeError:
            skipped += 1
    return Page(tuple(items), skipped, older=last if read > size else None)
