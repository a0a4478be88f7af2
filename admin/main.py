"""Composition root of the admin panel: settings, Redis, the first administrator, Hypercorn.

``python -m admin`` serves the panel; ``python -m admin set-password NAME`` prints a new
generated password for NAME (created as an administrator if missing), to be changed at sign-in.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from argon2 import PasswordHasher
from hypercorn.asyncio import serve
from hypercorn.config import Config
from redis.asyncio import Redis
from redis.exceptions import RedisError

from admin.accounts import NAME_PATTERN, NAME_RULE, AccountStore
from admin.actions import ActionLog
from admin.app import create_app
from admin.bootstrap import create_first_admin, reset_password
from admin.config import AdminPolicy
from admin.context import AdminContext
from admin.passwords import Passwords
from shared.bus import connect
from shared.cli_errors import OneLineParser, one_line
from shared.errors import ConfigError
from shared.keys import Keys
from shared.logs import setup_logging
from shared.redis_url import VAR_DIR, environment_redis_settings, resolve_url, shown
from shared.settings import Settings, load_settings


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    config.bind = [f"{settings.admin.host}:{settings.admin.port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    return config


async def serve_panel(settings: Settings) -> None:
    redis = connect(settings)
    try:
        policy = AdminPolicy.from_settings(settings.admin, settings.proxy)
        context = AdminContext(settings=settings, redis=redis, policy=policy)
        await create_first_admin(context.accounts, context.passwords, context.actions)
        await serve(create_app(settings, redis, context.policy), hypercorn_config(settings))
    finally:
        await redis.aclose()


async def set_password(redis_url: str, prefix: str, name: str) -> None:
    """Needs the Redis alone: no JWT key, no other setting (a production shell has none of them)."""
    redis = Redis.from_url(redis_url, socket_connect_timeout=5)
    try:
        keys = Keys(prefix)
        password = await reset_password(AccountStore(redis, keys), Passwords(PasswordHasher()),
                                        ActionLog(redis, keys, AdminPolicy.actions_maxlen), name)
        await redis.delete(keys.admin_signin_failures("user", name))  # and the user's lock, if any, ends
        print(f"new password for {name}: {password} (it must be changed at the next sign-in)")
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m admin", description="Vigil administrator panel")
    commands = parser.add_subparsers(dest="command")
    reset = commands.add_parser("set-password", help="print a new generated password for a user")
    reset.add_argument("name")
    reset.add_argument("--var", type=Path, default=VAR_DIR,
                       help="the `vigil run --var` folder, for the embedded Redis's password (default: var)")
    args = parser.parse_args(argv)
    if args.command == "set-password" and not NAME_PATTERN.match(args.name):
        parser.error(f"a user name is {NAME_RULE}")
    setup_logging()
    with one_line(f"python -m admin{' ' + args.command if args.command else ''}"):
        if args.command == "set-password":
            redis = environment_redis_settings()
            url = resolve_url(redis, args.var)
            try:
                asyncio.run(set_password(url, redis.key_prefix, args.name))
            except (RedisError, OSError) as exc:
                raise ConfigError(f"Redis at {shown(url)} is unreachable ({exc.__class__.__name__}): start "
                                  "`make run` (its embedded Redis) or set VIGIL_REDIS__URL") from None
        else:
            asyncio.run(serve_panel(load_settings()))
