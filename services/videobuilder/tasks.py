"""A session's video task in Redis: its frames, when it is due, and its state.

Two consumers (frames and session events) and the builders touch the same session at once,
in no guaranteed order; every transition is one Lua script so each sees a consistent state.

Task hash ``P:video:task:{session}`` (the guide's "task", as an RQ job): ``status`` is
``pending`` (frames or an event seen; expires with the frames after ``video.expires``), then
``done`` (the record's fields added; expires after ``video.result_ttl``), ``empty`` (no frame
could be used) or ``error`` (gave up after ``MAX_ATTEMPTS``). ``outcome``, ``jwt_id``,
``event_id`` and ``session_frames`` come from the session's last ``SessionEvent``.

Due time (``P:video:due``): the last frame's time + ``session_timeout``, pushed later by every
frame; a SUCCESS event makes it the event's time (build at once), FAILED the event's time +
``session_timeout``, DISCONNECTED at least that. A session's frames leave Redis once its video
is done; those of a session last seen DISCONNECTED move to disk first (held.py), so that a
resumption after its video was built makes the video again with every frame: still one video
per session, and Redis holds frame copies only until the first build.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from redis.asyncio import Redis

from shared.bus import text
from shared.keys import Keys
from shared.messages import ENTRY_FIELD, FrameMessage, SessionEvent, SessionOutcome, encode
from shared.settings import VideoSettings

MAX_ATTEMPTS = 5


class Status(StrEnum):
    PENDING = "pending"
    DONE = "done"
    EMPTY = "empty"
    ERROR = "error"


# KEYS: frames copy stream, due set, task hash. ARGV: session, entry payload, maxlen (0: none),
# expires, due time, the entry's field name.
_COLLECT = """
local status = redis.call('HGET', KEYS[3], 'status')
local outcome = redis.call('HGET', KEYS[3], 'outcome')
local ended = outcome == 'success' or outcome == 'failed'
if status == 'done' and ended then return 0 end
if tonumber(ARGV[3]) > 0 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', ARGV[6], ARGV[2])
else
  redis.call('XADD', KEYS[1], '*', ARGV[6], ARGV[2])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
if status ~= 'pending' then redis.call('HSET', KEYS[3], 'status', 'pending', 'attempts', 0) end
redis.call('EXPIRE', KEYS[3], ARGV[4])
if not ended then redis.call('ZADD', KEYS[2], 'GT', ARGV[5], ARGV[1]) end
return 1
"""

# KEYS: due set, task hash. ARGV: session, outcome, due time, jwt id ('' if none), event entry
# id, the session's frame count, expires.
_EVENT = """
local status = redis.call('HGET', KEYS[2], 'status')
local previous = redis.call('HGET', KEYS[2], 'outcome')
if previous == 'success' or previous == 'failed' then return 0 end
if ARGV[2] == 'disconnected' and status == 'done' then return 0 end
redis.call('HSET', KEYS[2], 'outcome', ARGV[2], 'event_id', ARGV[5], 'session_frames', ARGV[6])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[2], 'jwt_id', ARGV[4]) end
if status ~= 'pending' then redis.call('HSET', KEYS[2], 'status', 'pending', 'attempts', 0) end
redis.call('EXPIRE', KEYS[2], ARGV[7])
if ARGV[2] == 'disconnected' then
  redis.call('ZADD', KEYS[1], 'GT', ARGV[3], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
"""

# KEYS: due set, task hash, frames copy stream. ARGV: session, the due score the build started
# from, ttl, then field/value pairs. The due entry (and the frames) stay when the score moved
# during the build: frames came in, so the session is built again.
_FINISH = """
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[2], ARGV[3])
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[3])
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Task:
    outcome: SessionOutcome | None
    jwt_id: str | None
    event_id: str | None
    session_frames: int | None  # how many frames the ingress counted
    attempts: int

    @property
    def ended(self) -> bool:
        return self.outcome in (SessionOutcome.SUCCESS, SessionOutcome.FAILED)


class TaskStore:
    def __init__(self, redis: Redis, keys: Keys, settings: VideoSettings) -> None:
        self.redis, self.keys, self.settings = redis, keys, settings
        self._collect = redis.register_script(_COLLECT)
        self._event = redis.register_script(_EVENT)
        self._finish = redis.register_script(_FINISH)

    async def add_frame(self, frame: FrameMessage) -> bool:
        """Hold a copy of ``frame`` for the video; False when its session's video is final."""
        session = frame.session_id
        stored = await self._collect(
            keys=[self.keys.video_frames(session), self.keys.video_due, self.keys.video_task(session)],
            args=[session, encode(frame)[ENTRY_FIELD], self.settings.frames_limit, self.settings.expires,
                  frame.received_at + self.settings.session_timeout, ENTRY_FIELD],
        )
        return bool(stored)

    async def add_event(self, event: SessionEvent, entry_id: str) -> bool:
        """Record how the session ended (or dropped) and when its video is due."""
        session = event.session_id
        delay = 0 if event.outcome is SessionOutcome.SUCCESS else self.settings.session_timeout
        changed = await self._event(
            keys=[self.keys.video_due, self.keys.video_task(session)],
            args=[session, event.outcome.value, event.at + delay, event.jwt_id or "", entry_id,
                  event.frames, self.settings.expires],
        )
        return bool(changed)

    async def due(self, now: float, count: int) -> list[tuple[str, float]]:
        entries = await self.redis.zrangebyscore(
            self.keys.video_due, "-inf", now, start=0, num=count, withscores=True,
        )
        return [(text(member), float(score)) for member, score in entries]

    async def is_due(self, session: str, score: float) -> bool:
        """Still waiting with the due time ``score`` we read (not built, not moved by new frames)."""
        return bool(await self.redis.zscore(self.keys.video_due, session) == score)

    async def pending_count(self) -> int:
        return int(await self.redis.zcard(self.keys.video_due))

    async def task(self, session: str) -> Task:
        raw = await cast("Awaitable[dict[bytes, bytes]]", self.redis.hgetall(self.keys.video_task(session)))
        fields = {text(key): text(value) for key, value in raw.items()}
        return Task(
            outcome=SessionOutcome(fields["outcome"]) if "outcome" in fields else None,
            jwt_id=fields.get("jwt_id"), event_id=fields.get("event_id"),
            session_frames=int(fields["session_frames"]) if "session_frames" in fields else None,
            attempts=int(fields.get("attempts", 0)),
        )

    async def frames(self, session: str) -> list[bytes]:
        """The held copies' payloads, oldest first (decoded by the builder)."""
        entries = await self.redis.xrange(self.keys.video_frames(session))
        return [fields.get(ENTRY_FIELD, b"") for _, fields in entries]

    async def finish(self, session: str, score: float, status: Status, fields: dict[str, str]) -> None:
        """Record the outcome; the frame copies go unless frames came in during the build."""
        ttl = self.settings.result_ttl if status is Status.DONE else self.settings.expires
        pairs = [item for key, value in {**fields, "status": status.value}.items() for item in (key, value)]
        await self._finish(
            keys=[self.keys.video_due, self.keys.video_task(session), self.keys.video_frames(session)],
            args=[session, repr(score), ttl, *pairs],
        )

    async def retry_later(self, session: str, at: float) -> int:
        """Count a failed attempt and push the session's due time to ``at``; the attempts so far."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(self.keys.video_task(session), "attempts", 1)
            pipe.zadd(self.keys.video_due, {session: at}, xx=True)
            attempts, _ = await pipe.execute()
        return int(attempts)
