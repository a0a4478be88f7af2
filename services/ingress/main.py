"""Composition root of the ingress: settings, Redis, the Quart app on Hypercorn (asyncio)."""

from __future__ import annotations

import asyncio

from hypercorn.asyncio import serve

from services.ingress.app import create_app
from shared.bus import connect
from shared.endpoint import endpoint
from shared.health import HEALTH
from shared.http_server import hypercorn_config
from shared.keys import Group, Keys
from shared.live_settings import LiveSettings, follow_log_level
from shared.logs import setup_logging
from shared.monitor import monitor
from shared.settings import Settings, load_settings


async def run(settings: Settings) -> None:
    redis = connect(settings)
    # The ingress decides nothing itself (its frames carry its config tag); its log level is live, and
    # the light challenge's policy it announces in CONNECTED.
    keys = Keys(settings.redis.key_prefix)
    live = LiveSettings(redis, keys, settings, block_ms=settings.bus.block_ms)
    watcher = asyncio.create_task(follow_log_level(live))
    # The frames' backlog for the estimators is what the ingress admits sessions by: it samples it.
    sampler = asyncio.create_task(monitor(redis, keys, [(keys.frames, Group.ESTIMATOR)],
                                          settings.metrics.sample_interval_s))
    app = create_app(settings, redis, live)

    @app.before_serving
    async def started() -> None:
        HEALTH.mark_started()

    try:
        async with endpoint(settings.metrics, "ingress"):
            await serve(app, hypercorn_config(settings.ingress.host, settings.ingress.port,
                                             websocket_max_message_bytes=settings.ingress.max_message_bytes))
    finally:
        watcher.cancel()
        sampler.cancel()
        await redis.aclose()


def main() -> None:
    settings = load_settings()
    setup_logging(settings.logging.level, settings.logging.format)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
