"""Composition root of the decider: settings (live), Redis, the consumer loop on estimations."""

from __future__ import annotations

from services.decider.decider import Decider
from services.decider.signing import SigningKeys
from shared.bus import connect
from shared.consumer import Consumer
from shared.keys import Group, Keys
from shared.messages import EstimationMessage
from shared.service import live_settings, run_consumers, serve
from shared.settings import Settings


async def run(settings: Settings) -> None:
    keys = Keys(settings.redis.key_prefix)
    redis = connect(settings)
    live = await live_settings(redis, keys, settings)
    signing = SigningKeys()
    signing.for_settings(await live.for_tag(None))  # a missing or bad key stops the start, not the first success
    decider = Decider(redis, keys, live, signing)
    consumer = Consumer(
        redis, keys, settings.bus, stream=keys.estimations, group=Group.DECIDER, kind=EstimationMessage,
        handler=decider.handle,
    )
    await run_consumers(redis, [consumer], live)


def main() -> None:
    serve(run, "decider")


if __name__ == "__main__":
    main()
