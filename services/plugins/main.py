"""Composition root of the plugins service: the enabled plugins and their consumer loop."""

from __future__ import annotations

import logging

import anyio

from services.plugins.registry import load_plugins
from services.plugins.runner import PluginRunner
from shared.bus import connect
from shared.consumer import Consumer
from shared.keys import Group, Keys
from shared.logs import setup_logging
from shared.messages import EstimationMessage
from shared.settings import Settings, load_settings

log = logging.getLogger(__name__)


async def run(settings: Settings) -> None:
    keys = Keys(settings.redis.key_prefix)
    plugins = load_plugins(settings)
    log.info("plugins: %s", ", ".join(p.name for p in plugins) or "none enabled")
    redis = connect(settings)
    runner = PluginRunner(redis, keys, settings, plugins)
    consumer = Consumer(
        redis, keys, settings.bus, stream=keys.estimations, group=Group.PLUGINS, kind=EstimationMessage,
        handler=runner.handle,
    )
    try:
        await consumer.run()
    finally:
        await redis.aclose()


def main() -> None:
    setup_logging()
    anyio.run(run, load_settings())


if __name__ == "__main__":
    main()
