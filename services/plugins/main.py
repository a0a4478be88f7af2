"""Composition root of the plugins service: the enabled plugins and their consumer loop."""

from __future__ import annotations

import logging
from typing import Any

from services.plugins.postprocess.file_logger import FileLogger
from services.plugins.postprocess.progress import ProgressLog
from services.plugins.runner import PluginRunner
from shared.bus import connect
from shared.consumer import Consumer
from shared.keys import Group, Keys
from shared.messages import EstimationMessage, FrameMessage, ReplyMessage
from shared.service import live_settings, run_consumers, serve
from shared.settings import Settings

log = logging.getLogger(__name__)


async def run(settings: Settings) -> None:
    keys = Keys(settings.redis.key_prefix)
    redis = connect(settings)
    live = await live_settings(redis, keys, settings)
    runner = PluginRunner(redis, keys, live)
    await runner.plugins_for(None)  # a missing third-party plugin stops the start, not a frame
    consumers: list[Consumer[Any]] = [Consumer(
        redis, keys, settings.bus, stream=keys.estimations, group=Group.PLUGINS, kind=EstimationMessage,
        handler=runner.handle,
    )]
    if settings.file_logger.is_enabled:
        file_logger = FileLogger(settings.file_logger, ProgressLog(redis, keys, settings))
        consumers += [
            Consumer(redis, keys, settings.bus, stream=keys.frames, group=Group.FILE_LOGGER, kind=FrameMessage,
                     handler=file_logger.frames),
            Consumer(redis, keys, settings.bus, stream=keys.decisions, group=Group.FILE_LOGGER, kind=ReplyMessage,
                     handler=file_logger.answers),
        ]
    await run_consumers(redis, consumers, live)


def main() -> None:
    serve(run, "plugins")


if __name__ == "__main__":
    main()
