"""Composition root of the admin panel: settings, Redis, the first administrator, Hypercorn.

``python -m admin`` serves the panel; ``python -m admin set-password NAME`` prints a new
generated password for NAME (created as an administrator if missing), to be changed at sign-in.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from hypercorn.asyncio import serve
from hypercorn.config import Config

from admin.accounts import NAME_PATTERN, NAME_RULE
from admin.app import create_app
from admin.bootstrap import create_first_admin, reset_password
from admin.config import AdminPolicy
from admin.context import AdminContext
from shared.bus import connect
from shared.logs import setup_logging
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
        context = AdminContext(settings=settings, redis=redis, policy=AdminPolicy.from_settings(settings.admin))
        await create_first_admin(context.accounts, context.passwords, context.actions)
        await serve(create_app(settings, redis, context.policy), hypercorn_config(settings))
    finally:
        await redis.aclose()


async def set_password(settings: Settings, name: str) -> None:
    redis = connect(settings)
    try:
        context = AdminContext(settings=settings, redis=redis, policy=AdminPolicy.from_settings(settings.admin))
        password = await reset_password(context.accounts, context.passwords, context.actions, name)
        print(f"new password for {name}: {password} (it must be changed at the next sign-in)")
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m admin", description="Vigil administrator panel")
    commands = parser.add_subparsers(dest="command")
    reset = commands.add_parser("set-password", help="print a new generated password for a user")
    reset.add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "set-password" and not NAME_PATTERN.match(args.name):
        parser.error(f"a user name is {NAME_RULE}")
    setup_logging()
    settings = load_settings()
    if args.command == "set-password":
        asyncio.run(set_password(settings, args.name))
    else:
        asyncio.run(serve_panel(settings))
