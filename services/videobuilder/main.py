"""Composition root of the video builder: two consumers (frames, session events) and the build loop."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import anyio
from redis.asyncio import Redis

from services.videobuilder.builder import Builder
from services.videobuilder.claims import Claims
from services.videobuilder.collector import Collector
from services.videobuilder.hooks import load_hook
from services.videobuilder.scheduler import Scheduler
from services.videobuilder.tasks import TaskStore
from shared.bus import connect
from shared.consumer import Consumer, consumer_name
from shared.endpoint import endpoint
from shared.health import HEALTH
from shared.keys import Group, Keys
from shared.live_settings import LiveSettings
from shared.logs import setup_logging
from shared.messages import FrameMessage, SessionEvent
from shared.monitor import monitor
from shared.service import live_settings
from shared.settings import Settings, load_settings

log = logging.getLogger(__name__)

# Copying frames and encoding finished sessions' videos are never as urgent as a live session's reply:
# at this niceness the scheduler gives the live processes the cores first. The encoder itself runs
# lower still, on idle time only (idle.py).
NICENESS = 10


@dataclass(frozen=True, slots=True)
class VideoBuilder:
    frames: Consumer[FrameMessage]
    events: Consumer[SessionEvent]
    scheduler: Scheduler

    async def run(self, *, drain: bool = False) -> None:
        """Run until cancelled; with ``drain``, until both streams are read and no video is waiting."""
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: self.frames.run(drain=drain))
            group.start_soon(lambda: self.events.run(drain=drain))
            if not drain:
                group.start_soon(self.scheduler.run)
        if drain:
            await self.scheduler.run(drain=True)


def compose(redis: Redis, settings: Settings, *, name: str | None = None, poll_s: float = 0.5,
            live: LiveSettings | None = None) -> VideoBuilder:
    keys = Keys(settings.redis.key_prefix)
    name = name or consumer_name()
    tasks = TaskStore(redis, keys, settings.video)
    builder = Builder(redis, keys, settings, tasks, load_hook(settings.video.task_hook), live)
    claims = Claims(redis, keys, settings.video.lock_ms, name)
    collector = Collector(redis, keys, tasks, on_due=lambda: scheduler.wake())
    scheduler = Scheduler(tasks, claims, builder, collector.caught_up, poll_s=poll_s)
    return VideoBuilder(
        frames=Consumer(
            redis, keys, settings.bus, stream=keys.frames, group=Group.VIDEOBUILDER, kind=FrameMessage,
            handler=collector.frames, name=name,
        ),
        events=Consumer(
            redis, keys, settings.bus, stream=keys.session_events, group=Group.VIDEOBUILDER, kind=SessionEvent,
            handler=collector.events, name=name,
        ),
        scheduler=scheduler,
    )


async def run(settings: Settings) -> None:
    redis = connect(settings)
    keys = Keys(settings.redis.key_prefix)
    try:
        async with endpoint(settings.metrics, "videobuilder"):
            live = await live_settings(redis, keys, settings)
            builder = compose(redis, settings, live=live)
            watched = [(c.stream, c.group) for c in (builder.frames, builder.events)]
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(live.watch)
                tasks.start_soon(monitor, redis, keys, watched, settings.metrics.sample_interval_s)
                HEALTH.mark_started()
                await builder.run()
                tasks.cancel_scope.cancel()
    finally:
        await redis.aclose()


def main() -> None:
    setup_logging()
    settings = load_settings()
    setup_logging(settings.logging.level, settings.logging.format)  # now that they are known
    os.nice(NICENESS)
    if not settings.video_redis.is_enabled:
        # The guide's VideoRedis switch: no frames are held and no video is made.
        log.info("video building is off (VIGIL_VIDEO_REDIS__IS_ENABLED=false); exiting")
        return
    anyio.run(run, settings)


if __name__ == "__main__":
    main()
