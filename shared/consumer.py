"""The one consumer loop every service runs on a Redis stream.

* The group is created on start (``MKSTREAM``); only ``BUSYGROUP`` is tolerated, and a group
  lost with a Redis restart (``NOGROUP``) is created again.
* Entries are read with ``XREADGROUP`` (block, count) and handed to the handler in a batch; they
  are acknowledged only after the handler returned, i.e. after its output was written.
* Entries pending longer than ``bus.claim_idle_ms`` (their consumer died, or the handler failed)
  are taken over with ``XAUTOCLAIM``; after ``bus.max_deliveries`` deliveries, or at once when
  they do not decode, they are parked in the dead-letter stream and acknowledged.
* ``drain=True`` returns once the group has nothing left to read or acknowledge: tests and
  replays wait on it instead of sleeping.
* A lost Redis connection is retried with back-off; nothing is acknowledged that was not done.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic

from redis.asyncio import Redis

from shared.bus import Backoff, is_idle, text
from shared.dead_letters import DeadLetter
from shared.errors import BusRefused, BusUnavailable, MessageDecodeError
from shared.keys import Keys
from shared.lag import LagWatch
from shared.messages import ENTRY_FIELD, M, decode
from shared.metrics import BATCH_SECONDS, CONSUMED, DEAD_LETTERS, READ_LAG, REDIS_ERRORS, stream_label
from shared.settings import BusSettings

log = logging.getLogger(__name__)

RawEntry = tuple[bytes, dict[bytes, bytes] | None]
# A Redis still away after this many tries (about 8 minutes at the back-off's 5 s) ends the process:
# the launcher or the orchestrator restarts it and reports the crash.
GROUP_ATTEMPTS = 100


@dataclass(frozen=True, slots=True)
class Delivery(Generic[M]):
    entry_id: str
    message: M


Handler = Callable[[Sequence[Delivery[M]]], Awaitable[None]]


def consumer_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Consumer(Generic[M]):
    def __init__(
        self, redis: Redis, keys: Keys, bus: BusSettings, *, stream: str, group: str,
        kind: type[M], handler: Handler[M], batch_size: int = 16, name: str | None = None,
    ) -> None:
        self.redis, self.keys, self.bus = redis, keys, bus
        self.stream, self.group, self.kind, self.handler = stream, group, kind, handler
        self.batch_size = batch_size
        self.name = name or consumer_name()
        self._last_claim = 0.0
        self.lag = LagWatch(stream, group, warn_after_s=bus.frames_max_age_s / 2)
        # The metric children, resolved once: a label lookup per batch would cost more than the count.
        label = stream_label(keys.prefix, stream)
        self._acked, self._failed = CONSUMED.labels(label, group, "acked"), CONSUMED.labels(label, group, "failed")
        self._dead_letters = DEAD_LETTERS.labels(label, group)
        self._batch_seconds, self._read_lag = BATCH_SECONDS.labels(label, group), READ_LAG.labels(label, group)

    async def run(self, *, drain: bool = False) -> None:
        backoff = Backoff()
        await self._ensure_group_with_retry()
        # After a restart under the same name, finish what this consumer had read but not acked.
        await self._process(await self._read("0"))
        while True:
            try:
                processed = await self._claim_stale()
                fresh = await self._read(">")
                if fresh:
                    self._read_lag.set(self.lag.observe(fresh))
                processed += await self._process(fresh)
                backoff.reset()
                if drain and not processed and await is_idle(self.redis, self.stream, self.group):
                    return
            except BusUnavailable as exc:
                # A full Redis too: a consumer that gave up then would never come back.
                REDIS_ERRORS.labels("consumer").inc()
                log.warning("redis unavailable or full (%s); retrying in %.1fs", exc, backoff.delay_s)
                await backoff.sleep()
            except BusRefused as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("consumer group %s lost (Redis restarted?); creating it again", self.group)
                await self._ensure_group()

    async def _ensure_group_with_retry(self) -> None:
        backoff = Backoff()
        for attempt in range(GROUP_ATTEMPTS):
            try:
                await self._ensure_group()
                return
            except BusUnavailable as exc:
                log.warning("redis unavailable or full (%s), attempt %d", exc, attempt + 1)
                await backoff.sleep()
        await self._ensure_group()

    async def _ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except BusRefused as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read(self, start: str) -> list[RawEntry]:
        block = None if start == "0" else self.bus.block_ms
        reply = await self.redis.xreadgroup(
            self.group, self.name, {self.stream: start}, count=self.batch_size, block=block,
        )
        return [entry for _, entries in reply for entry in entries] if reply else []

    async def _claim_stale(self) -> int:
        now = time.monotonic()
        if now - self._last_claim < self.bus.claim_idle_ms / 2000:
            return 0
        self._last_claim = now
        reply = await self.redis.xautoclaim(
            self.stream, self.group, self.name, min_idle_time=self.bus.claim_idle_ms,
            start_id="0-0", count=self.batch_size,
        )
        entries: list[RawEntry] = list(reply[1]) if reply else []
        if not entries:
            return 0
        ids = [entry_id for entry_id, _ in entries]
        pending = await self.redis.xpending_range(
            self.stream, self.group, min=ids[0], max=ids[-1], count=len(ids) * 2,
        )
        deliveries = {text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        fresh: list[RawEntry] = []
        for entry_id, fields in entries:
            count = deliveries.get(text(entry_id), 1)
            if fields is None:
                # Trimmed from the stream while pending: nothing left to process.
                await self.redis.xack(self.stream, self.group, entry_id)
            elif count > self.bus.max_deliveries:
                await self._dead_letter(entry_id, fields, f"failed {count - 1} deliveries")
            else:
                log.info("claimed %s from a stalled consumer (delivery %d)", text(entry_id), count)
                fresh.append((entry_id, fields))
        if fresh:
            await self._process(fresh)
        return len(entries)

    async def _process(self, entries: list[RawEntry]) -> int:
        if not entries:
            return 0
        batch: list[Delivery[M]] = []
        for entry_id, fields in entries:
            if fields is None:
                await self.redis.xack(self.stream, self.group, entry_id)
                continue
            try:
                batch.append(Delivery(text(entry_id), decode(self.kind, fields)))
            except MessageDecodeError as exc:
                log.error("undecodable entry %s on %s: %s", text(entry_id), self.stream, exc)
                await self._dead_letter(entry_id, fields, str(exc))
        if batch:
            started = time.perf_counter()
            try:
                await self.handler(batch)
            except BusUnavailable:
                raise  # backed off in ``run`` like a lost Redis, rather than spending a delivery
            except Exception:
                log.exception("handler failed on %d entries of %s; they will be retried", len(batch), self.stream)
                self._failed.inc(len(batch))
                return len(entries)
            finally:
                self._batch_seconds.observe(time.perf_counter() - started)
            await self.redis.xack(self.stream, self.group, *[d.entry_id for d in batch])
            self._acked.inc(len(batch))
        return len(entries)

    async def _dead_letter(self, entry_id: bytes, fields: dict[bytes, bytes], reason: str) -> None:
        letter = DeadLetter(stream=self.stream, entry_id=text(entry_id), group=self.group, reason=reason,
                            payload=fields.get(ENTRY_FIELD, b""))
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.keys.dead_letter(self.stream), letter.fields(), maxlen=self.bus.stream_maxlen,
                      approximate=True)
            pipe.xack(self.stream, self.group, entry_id)
            await pipe.execute()
        self._dead_letters.inc()

