"""Composition root of the admin panel: settings, Redis, the first administrator, Hypercorn.

``python -m admin`` serves the panel; ``python -m admin set-password NAME`` prints a new
generated password for NAME (created as an administrator if missing), to be changed at sign-in.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from argon2 import PasswordHasher
from hypercorn.asyncio import serve

from admin.accounts import NAME_PATTERN, NAME_RULE, AccountStore
from admin.actions import ActionLog
from admin.app import create_app
from admin.bootstrap import create_first_admin, reset_password
from admin.config import AdminPolicy
from admin.context import AdminContext
from admin.passwords import Passwords
from shared.bus import connect
from shared.cli_errors import OneLineParser, one_line
from shared.endpoint import endpoint
from shared.errors import BusError, ConfigError
from shared.health import HEALTH
from shared.http_server import hypercorn_config
from shared.keys import Keys
from shared.logs import setup_logging
from shared.monitor import monitor
from shared.redis_connect import connect as connect_redis
from shared.redis_connect import describe
from shared.redis_url import VAR_DIR, environment_redis_settings
from shared.settings import RedisSettings, Settings, load_settings


async def serve_panel(settings: Settings) -> None:
    redis = connect(settings)
    keys = Keys(settings.redis.key_prefix)
    sampler = asyncio.create_task(monitor(redis, keys, [], settings.metrics.sample_interval_s))  # readiness: Redis
    try:
        async with endpoint(settings.metrics, "admin"):
            policy = AdminPolicy.from_settings(settings.admin, settings.proxy)
            context = AdminContext(settings=settings, redis=redis, policy=policy)
            await create_first_admin(context.accounts, context.passwords, context.actions)
            app = create_app(settings, redis, context.policy)

            @app.before_serving
            async def started() -> None:
                HEALTH.mark_started()

            await serve(app, hypercorn_config(settings.admin.host, settings.admin.port))
    finally:
        sampler.cancel()
        await redis.aclose()


async def set_password(settings: RedisSettings, var_dir: Path, name: str) -> None:
    """Needs the Redis alone: no JWT key, no other setting (a production shell has none of them)."""
    redis = connect_redis(settings, var_dir=var_dir)
    prefix = settings.key_prefix
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
            try:
                asyncio.run(set_password(redis, args.var, args.name))
            except BusError as exc:
                where = describe(redis, args.var)
                raise ConfigError(f"Redis at {where} is unreachable ({exc.__class__.__name__}): start "
                                  "`make run` (its embedded Redis) or set VIGIL_REDIS__*") from None
        else:
            settings = load_settings()
            setup_logging(settings.logging.level, settings.logging.format)  # now that they are known
            asyncio.run(serve_panel(settings))
