"""A builder's claim on one session (``SET NX PX``): one video is built once, even with several
builders. ``keep_alive`` renews every claim held while the builder works; a builder that dies
stops renewing, its claim lapses after ``video.lock_ms`` and another builder takes over.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from redis.asyncio import Redis

from shared.errors import BusError
from shared.keys import Keys

log = logging.getLogger(__name__)

# Renew or release only a claim that is still ours: after a lapse another builder may own it.
_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class Claim:
    def __init__(self, session: str, key: str, token: str) -> None:
        self.session, self.key, self.token = session, key, token
        self.lost = False  # a renewal found it gone: another builder may own the session now


class Claims:
    def __init__(self, redis: Redis, keys: Keys, lock_ms: int, owner: str) -> None:
        self.redis, self.keys, self.lock_ms, self.owner = redis, keys, lock_ms, owner
        self._held: dict[str, Claim] = {}
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @asynccontextmanager
    async def hold(self, session: str) -> AsyncIterator[Claim | None]:
        """The claim on ``session`` for the block, or None when another builder has it."""
        # The value names the owner for operators; the random part makes each claim unique.
        claim = Claim(session, self.keys.video_lock(session), f"{self.owner}/{uuid.uuid4().hex[:12]}")
        if not await self.redis.set(claim.key, claim.token, nx=True, px=self.lock_ms):
            yield None
            return
        self._held[claim.token] = claim
        try:
            yield claim
        finally:
            del self._held[claim.token]
            with anyio.CancelScope(shield=True):
                await self._release(keys=[claim.key], args=[claim.token])

    async def keep_alive(self) -> None:
        """Renew the held claims three times per ``lock_ms``, until cancelled."""
        while True:
            await anyio.sleep(self.lock_ms / 3000)
            for claim in list(self._held.values()):
                try:
                    renewed = await self._renew(keys=[claim.key], args=[claim.token, self.lock_ms])
                except BusError as exc:
                    log.warning("could not renew the claim on %s: %s", claim.session, exc)
                    continue
                if not renewed and not claim.lost:
                    log.warning("claim on session %s lapsed; another builder may take it", claim.session)
                    claim.lost = True
