"""Composition root of the decider: settings, Redis, the consumer loop on estimations."""

from __future__ import annotations

from services.decider.decider import Decider
from services.decider.signing import load_signing_key
from shared.bus import connect
from shared.consumer import Consumer
from shared.keys import Group, Keys
from shared.messages import EstimationMessage
from shared.service import run_consumers, serve
from shared.settings import Settings


async def run(settings: Settings) -> None:
    keys = Keys(settings.redis.key_prefix)
    redis = connect(settings)
    decider = Decider(redis, keys, settings, load_signing_key(settings))
    consumer = Consumer(
        redis, keys, settings.bus, stream=keys.estimations, group=Group.DECIDER, kind=EstimationMessage,
        handler=decider.handle,
    )
    await run_consumers(redis, [consumer])


def main() -> None:
    serve(run)


if __name__ == "__main__":
    main()
