"""The two stream handlers: frames are held for the video, session events set when it is due."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from redis.asyncio import Redis

from services.videobuilder.tasks import TaskStore
from shared.bus import stream_id, text
from shared.consumer import Delivery
from shared.keys import Group, Keys
from shared.messages import FrameMessage, SessionEvent, SessionOutcome

log = logging.getLogger(__name__)


class Collector:
    def __init__(self, redis: Redis, keys: Keys, tasks: TaskStore, on_due: Callable[[], None]) -> None:
        self.redis, self.keys, self.tasks = redis, keys, tasks
        self.on_due = on_due  # wakes the scheduler: a successful session is built at once

    async def frames(self, batch: Sequence[Delivery[FrameMessage]]) -> None:
        for delivery in batch:
            frame = delivery.message
            if not await self.tasks.add_frame(frame):
                log.info("frame %d of session %s came after its video was final; dropped",
                         frame.frame_no, frame.session_id)

    async def events(self, batch: Sequence[Delivery[SessionEvent]]) -> None:
        for delivery in batch:
            event = delivery.message
            if await self.tasks.add_event(event, delivery.entry_id):
                log.info("session %s %s (%d frames)", event.session_id, event.outcome.value, event.frames)
                if event.outcome is SessionOutcome.SUCCESS:
                    self.on_due()

    async def caught_up(self, up_to: str) -> bool:
        """True when every frame published up to stream id ``up_to`` (a session event's id) is held.

        The ingress publishes a session's frames before its end event and stream ids follow the
        server's clock, so once the frames group has acknowledged every entry up to that id, a
        session that ended has all its frames held: its video can be built.
        """
        stream = self.keys.frames
        last = await self.redis.xrevrange(stream, max=up_to, min="-", count=1)
        if not last:
            return True
        groups = await self.redis.xinfo_groups(stream)
        group = next((g for g in groups if text(g["name"]) == Group.VIDEOBUILDER), None)
        if group is None or stream_id(group["last-delivered-id"]) < stream_id(last[0][0]):
            return False
        pending = await self.redis.xpending_range(stream, Group.VIDEOBUILDER, min="-", max=up_to, count=1)
        return not pending
