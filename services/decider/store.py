"""Session state in Redis: load it, and commit a frame's decision atomically (state, audit
events, best shot and the reply in one MULTI), so any decider instance can serve any frame."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from services.decider.state import AuditEvent, SessionState, rebuild
from shared.bus import add
from shared.errors import MessageDecodeError
from shared.keys import Keys
from shared.messages import ENTRY_FIELD, ReplyMessage, decode
from shared.settings import Settings
from shared.stored import BestShot, pack, unpack

log = logging.getLogger(__name__)


def add_reply(pipe: Pipeline, keys: Keys, reply: ReplyMessage, settings: Settings) -> None:
    """Queue ``reply`` on ``pipe``: to the session's reply stream (kept ``session.ttl_s``) and its
    copy to ``P:decisions`` (shared/keys.py)."""
    stream = keys.reply(reply.session_id)
    add(pipe, stream, reply, maxlen=settings.bus.reply_maxlen)
    pipe.expire(stream, settings.session.ttl_s)
    add(pipe, keys.decisions, reply, maxlen=settings.bus.stream_maxlen)


class SessionStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys

    async def load(self, session_id: str, settings: Settings) -> SessionState:
        raw = await self.redis.get(self.keys.decider_state(session_id))
        if raw is None:
            return SessionState(session_id=session_id)
        try:
            return unpack(SessionState, raw)
        except MessageDecodeError as exc:
            # Written by another version of the decider (a rolling deploy): the audit stream,
            # the session's source of truth, rebuilds it.
            log.warning("session %s: stored state unreadable (%s); rebuilt from its audit stream", session_id, exc)
            return await self.rebuild(session_id, settings)

    async def bestshot(self, session_id: str) -> BestShot | None:
        """The best shot kept so far; ``MessageDecodeError`` when another version wrote it."""
        raw = await self.redis.get(self.keys.bestshot(session_id))
        return unpack(BestShot, raw) if raw is not None else None

    async def commit(self, state: SessionState, events: list[AuditEvent], reply: ReplyMessage,
                     bestshot: BestShot | None, settings: Settings) -> None:
        """Store ``state``, the session after ``events`` (state.advance), and the events and reply
        that led to it; ``settings``: the frame's live settings (lifetimes, stream bounds)."""
        sid, ttl = state.session_id, settings.session.ttl_s
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.decider_state(sid), pack(state), ex=ttl)
            for event in events:
                add(pipe, self.keys.audit(sid), event, maxlen=settings.bus.stream_maxlen)
            pipe.expire(self.keys.audit(sid), settings.session.audit_ttl_s)
            if bestshot is not None:
                pipe.set(self.keys.bestshot(sid), pack(bestshot), ex=ttl)
            add_reply(pipe, self.keys, reply, settings)
            await pipe.execute()

    async def audit_events(self, session_id: str) -> list[AuditEvent]:
        entries = await self.redis.xrange(self.keys.audit(session_id))
        return [decode(AuditEvent, {ENTRY_FIELD: fields[ENTRY_FIELD]}) for _, fields in entries]

    async def rebuild(self, session_id: str, settings: Settings) -> SessionState:
        return rebuild(session_id, await self.audit_events(session_id), settings.session.aggregate_frames)
