"""``vigil dead-letters``: what the consumer loop set aside (shared/consumer.py), for an operator.

An entry lands in ``P:dead:{stream}`` when it did not decode or failed ``bus.max_deliveries``
deliveries. ``vigil dead-letters`` lists each dead-letter stream with its length; ``--stream NAME``
(``estimations``, ``frames``, ...) prints its newest entries: when, the group, the reason, and what
the payload says it is. It only reads: the entries stay for inspection until the stream's bound
trims them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from redis.asyncio import Redis

from infra.recent_command import moment, printable
from shared.bus import entries, stream_id
from shared.cli_errors import OneLineParser, with_redis
from shared.dead_letters import DeadLetter, counts
from shared.keys import Keys
from shared.redis_connect import with_url
from shared.redis_url import environment_redis_settings

SHOWN = 20  # newest entries printed by default: enough to see a pattern, short enough to read


def add_parser(commands: argparse._SubParsersAction[OneLineParser]) -> None:
    dead = commands.add_parser("dead-letters", help="entries the services set aside (undecodable, or failing)")
    dead.add_argument("--stream", default=None, help="print this stream's dead letters (e.g. estimations)")
    dead.add_argument("--count", type=int, default=SHOWN, help=f"newest entries printed (default {SHOWN})")
    dead.add_argument("--redis-url", default=None, help="default: $VIGIL_REDIS__*, else the embedded Redis")


async def run(args: argparse.Namespace) -> int:
    redis_settings = with_url(environment_redis_settings(), args.redis_url)

    async def act(redis: Redis) -> int:
        await report(redis, Keys(redis_settings.key_prefix), args.stream, args.count, print)
        return 0

    return await with_redis("vigil dead-letters", redis_settings, act)


async def report(redis: Redis, keys: Keys, stream: str | None, count: int, say: Callable[[str], None]) -> None:
    if stream is None:
        found = await counts(redis, keys)
        for name, length in found:
            say(f"{name}: {length}")
        if not found:
            say("no dead letters")
        return
    # Not a bounded page (shared/recent.py): --count is the operator's, however many they ask for.
    async for entry_id, fields in entries(redis, keys.dead_letter(stream), newest_first=True, limit=count):
        letter = DeadLetter.from_fields(fields)
        # The reason quotes the decode error, which can quote the entry: escaped, as the other views.
        say(f"{moment(stream_id(entry_id)[0] / 1000)} {printable(letter.group)} {printable(letter.entry_id)}: "
            f"{printable(letter.reason)} [{printable(letter.payload_kind)}]")
