"""Composition root of the decider: settings, Redis, the consumer loop on estimations."""

from __future__ import annotations

import anyio

from services.decider.decider import Decider
from services.decider.signing import load_signing_key
from shared.bus import connect
from shared.consumer import Consumer
from shared.keys import Group, Keys
from shared.logs import setup_logging
from shared.messages import EstimationMessage
from shared.settings import Settings, load_settings


async def run(settings: Settings) -> None:
    keys = Keys(settings.redis.key_prefix)
    redis = connect(settings)
    decider = Decider(redis, keys, settings, load_signing_key(settings))
    consumer = Consumer(
        redis, keys, settings.bus, stream=keys.estimations, group=Group.DECIDER, kind=EstimationMessage,
        handler=decider.handle,
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
