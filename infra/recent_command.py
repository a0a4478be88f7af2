"""``vigil plugin-events`` and ``vigil videos``: an operator's look at ``P:plugin-events`` (what
plugins announced, e.g. virtual-camera evidence) and ``P:videos`` (the videos the builder finished).

Newest first, one bounded page (``--count``, at most ``shared.recent.MAX_PAGE``); when older entries
remain, the last line gives the ``--before`` of the next page. Text a client could have chosen (a
camera label quoted in a note, a session id) is printed with its control characters escaped, so it
cannot drive the terminal. It only reads.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from redis.asyncio import Redis

from shared.cli_errors import OneLineParser, with_redis
from shared.keys import Keys
from shared.messages import M, PluginEvent, VideoMessage
from shared.recent import MAX_PAGE, Page, is_entry_id, newest
from shared.redis_connect import with_url
from shared.redis_url import environment_redis_settings

PLUGIN_EVENTS, VIDEOS = "plugin-events", "videos"
COMMANDS = {PLUGIN_EVENTS: "what plugins announced (e.g. virtual-camera evidence), newest first",
            VIDEOS: "the videos the builder finished, newest first"}
SHOWN = 20  # entries printed by default: enough to see a pattern, short enough to read
Say = Callable[[str], None]


def add_parser(commands: argparse._SubParsersAction[OneLineParser]) -> None:
    for name, summary in COMMANDS.items():
        command = commands.add_parser(name, help=summary)
        command.add_argument("--count", type=_count, default=SHOWN,
                             help=f"newest entries printed (default {SHOWN}, at most {MAX_PAGE})")
        command.add_argument("--before", type=_entry_id, default=None, metavar="ID",
                             help="the page of entries older than this entry id (a page's last line names it)")
        command.add_argument("--redis-url", default=None, help="default: $VIGIL_REDIS__*, else the embedded Redis")


async def run(args: argparse.Namespace) -> int:
    redis_settings = with_url(environment_redis_settings(), args.redis_url)
    report = plugin_events if args.command == PLUGIN_EVENTS else videos

    async def act(redis: Redis) -> int:
        await report(redis, Keys(redis_settings.key_prefix), args.count, args.before, print)
        return 0

    return await with_redis(f"vigil {args.command}", redis_settings, act)


async def plugin_events(redis: Redis, keys: Keys, count: int, before: str | None, say: Say) -> None:
    page = await newest(redis, keys.plugin_events, PluginEvent, size=count, before=before)
    for item in page.items:
        event = item.message
        details = ", ".join(f"{printable(name)}={value:g}" for name, value in sorted(event.details.items()))
        say(f"{moment(event.at)} {printable(event.session_id)} frame {event.frame_no} {printable(event.plugin)}: "
            f"{printable(event.note)}{f' [{details}]' if details else ''}")
    _end(page, PLUGIN_EVENTS, say)


async def videos(redis: Redis, keys: Keys, count: int, before: str | None, say: Say) -> None:
    page = await newest(redis, keys.videos, VideoMessage, size=count, before=before)
    for item in page.items:
        video = item.message
        skipped = f" ({video.skipped_frames} skipped)" if video.skipped_frames else ""
        say(f"{moment(item.at_ms / 1000)} {printable(video.session_id)} "
            f"{video.outcome.value if video.outcome else '-'} {video.codec} {video.frame_count} frames{skipped} "
            f"{video.duration_s:.1f} s {_size(video.path)} {printable(video.path)}")
    _end(page, VIDEOS, say)


def printable(value: str) -> str:
    """``value`` with every character a terminal would act on (escape sequences, new lines) escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in value)


def moment(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _size(path: str) -> str:
    """The file's size where this command can see it (the builder wrote the path on its own host)."""
    try:
        return f"{Path(path).stat().st_size / 1048576:.2f} MiB"
    except OSError:
        return "(file not here)"


def _end(page: Page[M], command: str, say: Say) -> None:
    if page.skipped:
        say(f"{page.skipped} entries of this page could not be read")
    if not page.items and not page.skipped:
        say(f"no {command.replace('-', ' ')}")
    if page.older is not None:
        say(f"older: vigil {command} --before {page.older}")


def _count(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"a number of entries from 1 to {MAX_PAGE}")
    return int(value)


def _entry_id(value: str) -> str:
    if not is_entry_id(value):
        raise argparse.ArgumentTypeError("a stream entry id, e.g. 1765000000000-0")
    return value
