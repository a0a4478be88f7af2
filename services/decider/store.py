"""Session state in Redis: load it, and commit a frame's decision atomically (state, audit
events, best shot and the reply in one MULTI), so any decider instance can serve any frame."""

from __future__ import annotations

import msgpack
from redis.asyncio import Redis

from services.decider.state import AuditEvent, SessionState, rebuild
from shared.keys import Keys
from shared.messages import ENTRY_FIELD, ReplyMessage, decode, encode
from shared.settings import Settings


class SessionStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys

    async def load(self, session_id: str) -> SessionState:
        raw = await self.redis.get(self.keys.decider_state(session_id))
        if raw is None:
            return SessionState(session_id=session_id)
        return SessionState.model_validate(msgpack.unpackb(raw, raw=False))

    async def bestshot(self, session_id: str) -> bytes | None:
        data = await self.redis.get(self.keys.bestshot(session_id))
        return bytes(data) if data is not None else None

    async def commit(self, state: SessionState, events: list[AuditEvent], reply: ReplyMessage,
                     bestshot: bytes | None, settings: Settings) -> None:
        """Store ``state``, the session after ``events`` (state.advance), and the events and reply
        that led to it; ``settings``: the frame's live settings (lifetimes, stream bounds)."""
        sid, ttl = state.session_id, settings.session.ttl_s
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.decider_state(sid), msgpack.packb(state.model_dump(mode="python")), ex=ttl)
            for event in events:
                pipe.xadd(self.keys.audit(sid), encode(event), maxlen=settings.bus.stream_maxlen,  # type: ignore[arg-type]
                          approximate=True)
            pipe.expire(self.keys.audit(sid), settings.session.audit_ttl_s)
            if bestshot is not None:
                pipe.set(self.keys.bestshot(sid), bestshot, ex=ttl)
            pipe.xadd(self.keys.reply(sid), encode(reply), maxlen=settings.bus.reply_maxlen,  # type: ignore[arg-type]
                      approximate=True)
            pipe.expire(self.keys.reply(sid), ttl)
            pipe.xadd(self.keys.decisions, encode(reply), maxlen=settings.bus.stream_maxlen,  # type: ignore[arg-type]
                      approximate=True)
            await pipe.execute()

    async def audit_events(self, session_id: str) -> list[AuditEvent]:
        entries = await self.redis.xrange(self.keys.audit(session_id))
        return [decode(AuditEvent, {ENTRY_FIELD: fields[ENTRY_FIELD]}) for _, fields in entries]

    async def rebuild(self, session_id: str, settings: Settings) -> SessionState:
        return rebuild(session_id, await self.audit_events(session_id), settings.session.aggregate_frames)
