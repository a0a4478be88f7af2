"""Session records kept by the ingress: creation, resumption after a dropped connection, and
frame numbering that continues across reconnections (one session, one frame sequence)."""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

from shared.bus import publish
from shared.errors import ProtocolError, SystemCode
from shared.keys import SESSION_NONCE, Keys
from shared.messages import SessionEvent, SessionOutcome
from shared.metrics import SESSIONS_ENDED
from shared.store import hash_get, hash_set


class SessionRegistry:
    def __init__(self, redis: Redis, keys: Keys, ttl_s: int, events_maxlen: int) -> None:
        self.redis, self.keys, self.ttl_s, self.events_maxlen = redis, keys, ttl_s, events_maxlen

    async def open(self, requested: str | None, binding: dict[str, str] | None = None) -> str:
        """A new session id, or ``requested`` if it names a live session that has not ended.
        ``binding``: the token's CONNECT fields (services/ingress/binding.py); a resumed session
        keeps its own, and a different ``nonce`` cannot take it over."""
        binding = binding or {}
        if requested is None:
            session_id = str(uuid.uuid4())
            key = self.keys.session(session_id)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"created": time.time(), "connections": 1, "frames": 0, **binding})
                pipe.expire(key, self.ttl_s)
                await pipe.execute()
            return session_id
        try:
            session_id = str(uuid.UUID(requested))
        except ValueError:
            raise ProtocolError("session-id is not a UUID", code=SystemCode.BAD_HEADER) from None
        key = self.keys.session(session_id)
        ended = await hash_get(self.redis, key, "ended")
        if ended is not None:
            raise ProtocolError(f"session ended ({ended.decode()})", code=SystemCode.SESSION_ENDED)
        if not await self.redis.exists(key):
            raise ProtocolError("unknown or expired session-id", code=SystemCode.UNKNOWN_SESSION)
        if SESSION_NONCE in binding:
            stored = await hash_get(self.redis, key, SESSION_NONCE)
            if stored is None or stored.decode() != binding[SESSION_NONCE]:
                raise ProtocolError("nonce differs from the session's", code=SystemCode.BAD_HEADER)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "connections", 1)
            pipe.expire(key, self.ttl_s)
            await pipe.execute()
        return session_id

    async def next_frame_no(self, session_id: str) -> int:
        key = self.keys.session(session_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "frames", 1)
            pipe.expire(key, self.ttl_s)
            frame_no, _ = await pipe.execute()
        return int(frame_no)

    async def end(self, session_id: str, outcome: SessionOutcome, frames: int, jwt_id: str | None = None) -> None:
        """Record how the session ended (or that its connection dropped) and announce it."""
        SESSIONS_ENDED.labels(outcome.value).inc()
        if outcome is not SessionOutcome.DISCONNECTED:
            await hash_set(self.redis, self.keys.session(session_id), "ended", outcome.value)
        event = SessionEvent(session_id=session_id, outcome=outcome, at=time.time(), frames=frames, jwt_id=jwt_id)
        await publish(self.redis, self.keys.session_events, event, maxlen=self.events_maxlen)
