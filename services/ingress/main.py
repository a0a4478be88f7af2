"""Composition root of the ingress: settings, Redis, the Quart app on Hypercorn (asyncio)."""

from __future__ import annotations

import asyncio
import logging

from hypercorn.asyncio import serve
from hypercorn.config import Config

from services.ingress.app import create_app
from shared.bus import connect
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
    try:
        await serve(create_app(settings, redis), hypercorn_config(settings))
    finally:
        await redis.aclose()


def main() -> None:
    setup_logging()
    asyncio.run(run(load_settings()))


if __name__ == "__main__":
    main()
