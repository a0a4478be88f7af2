"""Composition root of the ingress: settings, Redis, the Quart app on Hypercorn (asyncio)."""

from __future__ import annotations

import asyncio
import logging

from hypercorn.asyncio import serve
from hypercorn.config import Config

from services.ingress.app import create_app
from shared.bus import connect
from shared.keys import Keys
from shared.live_settings import LiveSettings, follow_log_level
from shared.logs import setup_logging
from shared.settings import Settings, load_settings


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    config.bind = [f"{settings.ingress.host}:{settings.ingress.port}"]
    config.websocket_max_message_size = settings.ingress.max_message_bytes
    config.accesslog = None
    # Hand Hypercorn our logger so its lines are formatted (and shown) once, like every other.
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


async def run(settings: Settings) -> None:
    redis = connect(settings)
    # The ingress decides nothing itself (its frames carry its config tag); its log level is live, and
    # the light challenge's policy it announces in CONNECTED.
    live = LiveSettings(redis, Keys(settings.redis.key_prefix), settings, block_ms=settings.bus.block_ms)
    watcher = asyncio.create_task(follow_log_level(live))
    try:
        await serve(create_app(settings, redis, live), hypercorn_config(settings))
    finally:
        watcher.cancel()
        await redis.aclose()


def main() -> None:
    settings = load_settings()
    setup_logging(settings.logging.level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
