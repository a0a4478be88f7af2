"""Bounded reads of the event streams for the statistics page.

Every read covers one period (the last 24 hours or 7 days) but stops after a fixed number of
entries, newest first, so a long stream cannot make the page slow: when the cap is hit the
figures describe the newest entries and the page says since when (``Window.since_ms``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from redis.asyncio import Redis

from shared.bus import entries, stream_id
from shared.errors import MessageDecodeError
from shared.messages import Message, decode

M = TypeVar("M", bound=Message)
PAGE = 500  # entries per XREVRANGE call: bounds the memory of one round trip (estimations carry images)


@dataclass(frozen=True)
class Window(Generic[M]):
    """The decodable entries read, oldest first, each with its entry time in ms."""

    entries: tuple[tuple[int, M], ...]
    skipped: int  # entries that did not decode as the stream's message type
    truncated: bool  # the cap was reached before the period's start

    @property
    def messages(self) -> list[M]:
        return [message for _, message in self.entries]

    @property
    def read(self) -> int:
        return len(self.entries) + self.skipped

    @property
    def since_ms(self) -> int | None:
        """The time of the oldest entry read, or None when nothing was read."""
        return self.entries[0][0] if self.entries else None


async def read_window(redis: Redis, stream: str, kind: type[M], since: float, limit: int) -> Window[M]:
    """The newest ``limit`` entries of ``stream`` added since ``since`` (epoch s), decoded as ``kind``."""
    found: list[tuple[int, M]] = []
    skipped, read = 0, 0
    # One more than the cap tells whether the cap cut the period short.
    async for entry_id, fields in entries(redis, stream, first=f"{int(since * 1000)}-0", newest_first=True,
                                          limit=limit + 1, page=PAGE):
        read += 1
        if read > limit:
            continue  # the one past the cap: read only to learn that the period goes on
        try:
            # The id's time part: when the Redis server added the entry, in ms.
            found.append((stream_id(entry_id)[0], decode(kind, fields)))
        except MessageDecodeError:
            skipped += 1
    found.reverse()
    return Window(tuple(found), skipped, truncated=read > limit)
