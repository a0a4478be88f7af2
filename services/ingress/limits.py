"""Abuse limits on new sessions, counted in Redis so every ingress shares them (settings group
``abuse``, docs/protocol.md code 1022).

At CONNECT of a new session: refused while its address, device or user key is blocked, while its
address has ``max_sessions_per_address`` sessions open, or once the address has started
``max_new_sessions_per_minute`` this minute. When a session ends without success, the failure is
counted for each of its keys over ``window_s``; at the limit that key is blocked for ``block_s``.
Resumed sessions are never refused: they were admitted before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from shared.abuse import Block, Scope, key_value
from shared.errors import LimitedError
from shared.keys import Keys
from shared.settings import Settings
from shared.store import hash_add

log = logging.getLogger(__name__)

MINUTE_S = 60
OPEN_RETRY_S = 10  # a full address is told to come back soon: one of its sessions may end any time


@dataclass(frozen=True)
class Client:
    """Who starts a session: the address (behind a trusted proxy, the forwarded one) and the optional
    keys the page (device-id) and the relying party (user-key) send in CONNECT."""

    address: str
    device: str | None = None
    user: str | None = None

    def named(self) -> list[tuple[Scope, str]]:
        """Each key this client is counted under, as it appears in key names."""
        found = [(Scope.ADDRESS, self.address)]
        found += [(Scope.DEVICE, key_value(Scope.DEVICE, self.device))] if self.device else []
        found += [(Scope.USER, key_value(Scope.USER, self.user))] if self.user else []
        return found


class Limits:
    def __init__(self, redis: Redis, keys: Keys, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.redis, self.keys, self.settings, self.clock = redis, keys, settings, clock

    async def admit(self, client: Client) -> None:
        """Count a new session in, or raise LimitedError with the seconds to wait."""
        limits = self.settings.abuse
        if not limits.is_enabled:
            return
        named = client.named()
        async with self.redis.pipeline(transaction=False) as pipe:
            for scope, value in named:
                pipe.ttl(self.keys.abuse_block(scope, value))
            waits: list[int] = await pipe.execute()
        for (scope, _), wait in zip(named, waits, strict=True):
            if wait > 0:
                await self._refused("blocked")
                raise LimitedError(f"too many failed checks from this {scope.value}", retry_after_s=wait)
        now, open_key = self.clock(), self.keys.abuse_open(client.address)
        await self.redis.zremrangebyscore(open_key, "-inf", now - self.settings.session.ttl_s)
        if await self.redis.zcard(open_key) >= limits.max_sessions_per_address:
            await self._refused("sessions")
            raise LimitedError(f"{limits.max_sessions_per_address} sessions open from this address",
                               retry_after_s=OPEN_RETRY_S)
        new_key = self.keys.abuse_new(client.address)
        count = await self.redis.incr(new_key)
        if count == 1:
            await self.redis.expire(new_key, MINUTE_S)
        if count > limits.max_new_sessions_per_minute:
            await self._refused("rate")
            raise LimitedError(f"over {limits.max_new_sessions_per_minute} new sessions a minute from this address",
                               retry_after_s=max(1, await self.redis.ttl(new_key)))

    async def opened(self, client: Client, session_id: str) -> None:
        if self.settings.abuse.is_enabled:
            key = self.keys.abuse_open(client.address)
            await self.redis.zadd(key, {session_id: self.clock()})
            await self.redis.expire(key, self.settings.session.ttl_s)

    async def closed(self, client: Client, session_id: str) -> None:
        if self.settings.abuse.is_enabled:
            await self.redis.zrem(self.keys.abuse_open(client.address), session_id)

    async def failed(self, client: Client, session_id: str) -> None:
        """A session of ``client`` ended without success: count it, block a key at its limit."""
        limits = self.settings.abuse
        if not limits.is_enabled:
            return
        now, named = self.clock(), client.named()
        async with self.redis.pipeline(transaction=False) as pipe:
            for scope, value in named:
                key = self.keys.abuse_failures(scope, value)
                pipe.zadd(key, {session_id: now})
                pipe.zremrangebyscore(key, "-inf", now - limits.window_s)
                pipe.expire(key, limits.window_s)
                pipe.zcard(key)
            counted = (await pipe.execute())[3::4]  # each key's ZCARD
        for (scope, value), failures in zip(named, counted, strict=True):
            allowed = limits.max_failures_per_address if scope is Scope.ADDRESS else limits.max_failures_per_device
            if failures >= allowed:
                block = Block(scope=scope, value=value, failures=failures, since=now, until=now + limits.block_s)
                await self.redis.set(self.keys.abuse_block(scope, value), block.model_dump_json(),
                                     ex=limits.block_s)
                log.warning("%s %s blocked for %d s after %d failed sessions in %d s", scope.value, value,
                            limits.block_s, failures, limits.window_s)

    async def _refused(self, reason: str) -> None:
        await hash_add(self.redis, self.keys.abuse_refusals, reason)
