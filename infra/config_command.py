"""``vigil config``: the live settings from a shell (what the admin panel's Settings section does).

``show [--tag T]`` prints the tag's stored overrides and version, ``set TAG GROUP NAME=VALUE...``
validates and stores a group's overrides (VALUE is JSON where it parses, else a string; no pair:
back to the layer beneath), ``history`` prints the latest changes, ``drop TAG`` deletes a tag's
overrides without validating them (for a record that no longer loads). Run it with the services'
``VIGIL_*`` environment: values are validated on top of it.
"""

from __future__ import annotations

import argparse
import json
import sys

from pydantic import JsonValue
from redis.asyncio import Redis

from shared.cli_errors import OneLineParser, with_redis
from shared.errors import ConfigError, MessageDecodeError
from shared.keys import Keys
from shared.live_config import DEFAULT_TAG, ConfigConflict, ConfigStore, InvalidOverride
from shared.messages import ConfigChange, decode
from shared.redis_connect import with_url
from shared.settings import Settings, load_settings


def add_parser(commands: argparse._SubParsersAction[OneLineParser]) -> None:
    config = commands.add_parser("config", help="live settings stored in Redis (applied without a restart)")
    config.add_argument("--redis-url", default=None, help="default: $VIGIL_REDIS__URL, else the embedded Redis")
    actions = config.add_subparsers(dest="action", required=True)
    show = actions.add_parser("show", help="a tag's stored overrides and version")
    show.add_argument("--tag", default=DEFAULT_TAG)
    put = actions.add_parser("set", help="validate and store a group's overrides for a tag")
    put.add_argument("tag")
    put.add_argument("group")
    put.add_argument("pairs", nargs="*", metavar="NAME=VALUE")
    put.add_argument("--actor", default="cli")
    actions.add_parser("history", help="the latest changes")
    drop = actions.add_parser("drop", help="delete a tag's overrides, unvalidated (a record that no longer loads)")
    drop.add_argument("tag")
    drop.add_argument("--actor", default="cli")


def _value(raw: str) -> JsonValue:
    try:
        parsed: JsonValue = json.loads(raw)
    except json.JSONDecodeError:
        return raw
    return parsed


async def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"vigil config: the environment's settings do not load ({exc}); run with the services' VIGIL_*",
              file=sys.stderr)
        return 2
    keys = Keys(settings.redis.key_prefix)
    return await with_redis("vigil config", with_url(settings.redis, args.redis_url),
                            lambda redis: _act(args, ConfigStore(redis, keys), settings, redis))


async def _act(args: argparse.Namespace, store: ConfigStore, settings: Settings, redis: Redis) -> int:
    if args.action == "show":
        print((await store.load(args.tag)).model_dump_json(indent=2))
    elif args.action == "drop":
        await store.drop(args.tag, actor=args.actor)
        print(f"{args.tag}: every override dropped; services use the layers beneath from their next frame")
    elif args.action == "history":
        for _, fields in await redis.xrevrange(store.keys.config_changes, count=20):
            try:
                change = decode(ConfigChange, fields)
            except MessageDecodeError as exc:
                print(f"(undecodable entry: {exc})")
                continue
            print(f"{change.at:.0f} {change.actor} {change.tag} v{change.version} {change.group}: {change.overrides}")
    else:
        pairs = [pair.partition("=") for pair in args.pairs]
        if any(not sep for _, sep, _ in pairs):
            print("vigil config set: give NAME=VALUE pairs", file=sys.stderr)
            return 2
        current = await store.load(args.tag)
        try:
            stored = await store.save(settings, args.tag, args.group, {name: _value(raw) for name, _, raw in pairs},
                                      expected_version=current.version, actor=args.actor)
        except InvalidOverride as exc:
            print(f"vigil config set: {exc}: {json.dumps(exc.errors)}", file=sys.stderr)
            return 1
        except ConfigConflict as exc:
            print(f"vigil config set: {exc}", file=sys.stderr)
            return 1
        print(f"{args.tag} v{stored.version}: {json.dumps(stored.overrides.get(args.group, {}))}")
    return 0
