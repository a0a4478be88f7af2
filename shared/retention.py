"""Retention of the streams that carry images, by count, age and size (docs/operations.md).

Every FRAME's image goes on ``P:frames``, and again on ``P:estimations`` for the frames with a face
(the decider's best-shot candidate): these two fill Redis (10,000 frames of the page's ~50 KB, or of
4 MB crafted images, held for however long). Each publish trims its stream three ways, in the same
round trip, approximately (``~``: whole macro nodes, cheap):

* count: ``MAXLEN ~ bus.stream_maxlen``;
* size: ``MAXLEN ~ bus.frames_max_mb / mean size of recent frames`` (a running mean per process);
* age: ``XTRIM MINID ~`` now minus ``bus.frames_max_age_s`` (entry ids are their time in ms).

A Redis at its memory bound (``maxmemory`` with ``noeviction``) refuses the write with ``OOM``:
the client raises ``BusFull`` for it (shared/redis_connect.py), answered ``1017`` (retry later) like
a lost Redis.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from redis.asyncio import Redis

from shared.bus import add
from shared.messages import Message
from shared.settings import BusSettings

# Weight of the newest frame in the running mean: ~50 frames of memory, so a burst of large
# crafted images shrinks the bound within a second or two of traffic.
MEAN_WEIGHT = 0.02
MIN_FRAMES = 100  # never fewer than this (Redis trims by macro nodes of 100 entries anyway)


class StreamRetention:
    """One per publishing process and stream (the ingress: frames; the estimator: estimations),
    with its running mean of the image sizes it publishes."""

    def __init__(self, bus: BusSettings) -> None:
        self.bus = bus
        self.mean_bytes = 0.0

    def maxlen(self, size: int) -> int:
        self.mean_bytes = size if self.mean_bytes == 0 else (1 - MEAN_WEIGHT) * self.mean_bytes + MEAN_WEIGHT * size
        by_size = int(self.bus.frames_max_mb * 1024 * 1024 / max(self.mean_bytes, 1.0))
        return max(MIN_FRAMES, min(self.bus.stream_maxlen, by_size))

    def oldest_id(self, now: float | None = None) -> str:
        return f"{int(((now or time.time()) - self.bus.frames_max_age_s) * 1000)}-0"

    async def publish(self, redis: Redis, entries: Sequence[tuple[str, Message, int]]) -> None:
        """XADD each ``(stream, message, image bytes)`` bounded by count and size, then trim each
        stream by age; one round trip. ``BusFull`` when Redis is at its memory bound."""
        async with redis.pipeline(transaction=False) as pipe:
            for stream, message, size in entries:
                add(pipe, stream, message, maxlen=self.maxlen(size))
            for stream in dict.fromkeys(stream for stream, _, _ in entries):
                pipe.xtrim(stream, minid=self.oldest_id(), approximate=True)
            await pipe.execute()
