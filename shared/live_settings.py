"""The settings a running service applies to each frame, kept current without a restart.

``LiveSettings.for_tag(tag)`` returns the process's environment settings with the stored
overrides of ``default`` and ``tag`` on top (shared/live_config.py), cached per tag; ``watch()``
reads ``P:config-changes`` with a plain blocking ``XREAD`` (every instance must see every
change, so no consumer group) and drops the cached tags a change touches, so the next frame
loads them again. If Redis goes away, the cache is dropped when it comes back, so a change
missed meanwhile is still applied. A stored override that no longer validates (e.g. written
by another version) is logged and that tag falls back to the environment settings: a bad
record never stops a service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
from redis.asyncio import Redis

from shared.bus import text
from shared.errors import BusUnavailable, MessageDecodeError
from shared.keys import Keys
from shared.live_config import DEFAULT_TAG, ConfigStore, InvalidOverride, apply_layers
from shared.messages import ConfigChange, decode
from shared.settings import Settings

log = logging.getLogger(__name__)
RETRY_S = 1.0

Listener = Callable[[Settings], None]


class LiveSettings:
    def __init__(self, redis: Redis, keys: Keys, base: Settings, *, block_ms: int = 5000) -> None:
        self.redis, self.keys, self.base, self.block_ms = redis, keys, base, block_ms
        self.store = ConfigStore(redis, keys)
        self._cache: dict[str, Settings] = {}
        self._generation = 0  # bumped on every invalidation, so a load that raced one is not cached
        self._last_id = "0-0"
        self._listeners: list[Listener] = []

    @property
    def own_tag(self) -> str:
        return self.base.config_tag

    def on_own_change(self, listener: Listener) -> None:
        """Call ``listener(settings)`` whenever this process's own tag changes (e.g. log level)."""
        self._listeners.append(listener)

    async def start(self) -> Settings:
        """Remember where the change stream ends, then load this process's own tag."""
        await self._mark_stream_end()
        return await self.for_tag(None)

    async def _mark_stream_end(self) -> None:
        latest = await self.redis.xrevrange(self.keys.config_changes, count=1)
        self._last_id = text(latest[0][0]) if latest else "0-0"

    async def for_tag(self, tag: str | None) -> Settings:
        name = tag or self.own_tag
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        generation = self._generation
        settings = await self._load(name)
        if generation == self._generation:
            self._cache[name] = settings
        return settings

    async def _load(self, tag: str) -> Settings:
        try:
            return apply_layers(self.base, await self.store.layers(tag))
        except InvalidOverride as exc:
            log.error("stored settings for tag %s do not apply (%s: %s); using the environment's", tag, exc,
                      exc.errors)
            return self.base

    async def watch(self) -> None:
        """Run until cancelled: follow the change stream and drop what each change makes stale."""
        while True:
            try:
                found = await self.redis.xread({self.keys.config_changes: self._last_id}, count=100,
                                               block=self.block_ms)
            except BusUnavailable as exc:
                log.warning("live settings: Redis unavailable (%s); retrying", exc)
                await self._resync()
                continue
            for _, entries in found or []:
                for entry_id, fields in entries:
                    self._last_id = text(entry_id)
                    await self._invalidate(_changed_tag(fields))

    async def _resync(self) -> None:
        """After losing Redis: changes may have been missed, or the stream lost in a restart (its ids
        start again): follow it from its end now and load every tag again."""
        while True:
            await anyio.sleep(RETRY_S)
            try:
                await self._mark_stream_end()
            except BusUnavailable:
                continue
            await self._invalidate(None)
            return

    async def _invalidate(self, tag: str | None) -> None:
        """Drop ``tag`` (None or ``default``: every tag, since all are layered on ``default``)."""
        self._generation += 1
        if tag is None or tag == DEFAULT_TAG:
            self._cache.clear()
        else:
            self._cache.pop(tag, None)
        if tag in (None, DEFAULT_TAG, self.own_tag) and self._listeners:
            try:
                own = await self.for_tag(None)
            except BusUnavailable:
                return  # the next change or reconnection tries again
            for listener in self._listeners:
                listener(own)


def _changed_tag(fields: dict[bytes, bytes]) -> str | None:
    try:
        return decode(ConfigChange, fields).tag
    except MessageDecodeError as exc:
        log.error("live settings: undecodable change entry (%s); reloading every tag", exc)
        return None


def apply_log_level(settings: Settings) -> None:
    logging.getLogger().setLevel(settings.logging.level)


async def follow_log_level(live: LiveSettings) -> None:
    """For a process that decides nothing per frame (the ingress): only its log level is live. It
    must not stop the process from starting while Redis is away, so the first load is retried."""
    live.on_own_change(apply_log_level)
    while True:
        try:
            apply_log_level(await live.start())
            break
        except BusUnavailable as exc:
            log.warning("live settings: Redis unavailable (%s); retrying", exc)
            await anyio.sleep(RETRY_S)
    await live.watch()
