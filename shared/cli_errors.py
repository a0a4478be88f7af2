"""Commands a person types (``vigil ...``, ``python -m admin ...``) answer a mistake with one line
and a non-zero exit, never a traceback: bad arguments (exit 2), and at the top of each command
the errors a person can cause or fix (a missing file, an unreachable Redis, a wrong key: exit 1).
``python -X dev`` shows the traceback for a bug report.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

from pydantic import ValidationError
from redis.asyncio import Redis

from shared.errors import BusUnavailable, VigilError
from shared.redis_connect import connect, describe
from shared.settings import RedisSettings

# Failures a person can act on from their message alone: no traceback (a failed Redis command is a
# VigilError: shared/redis_connect.py translates redis-py's errors).
SAID_IN_ONE_LINE: tuple[type[Exception], ...] = (VigilError, OSError)


class OneLineParser(argparse.ArgumentParser):
    """argparse without the usage block on errors: the error and where to find help, one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def validation_summary(error: ValidationError) -> str:
    """A pydantic error on one line: each field and its rule, never the input."""
    parts = []
    for item in error.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        parts.append(f"{where}: {item['msg']}" if where else str(item["msg"]))
    return "; ".join(parts)


@contextmanager
def one_line(prog: str) -> Iterator[None]:
    try:
        yield
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # `vigil ... | head`: the reader is gone, nothing to say
        sys.exit(1)
    except ValidationError as exc:
        _fail(prog, validation_summary(exc))
    except SAID_IN_ONE_LINE as exc:
        _fail(prog, _one_line(exc))
    except Exception as exc:  # the boundary a person sees: a bug, still one line
        if sys.flags.dev_mode:
            raise
        _fail(prog, f"unexpected {exc.__class__.__name__}: {_one_line(exc)} (python -X dev shows the traceback)")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.strerror}: {exc.filename}"
    return text


def _fail(prog: str, message: str) -> NoReturn:
    print(f"{prog}: {message}", file=sys.stderr)
    sys.exit(1)


async def with_redis(prog: str, redis: RedisSettings, act: Callable[[Redis], Awaitable[int]]) -> int:
    """``act``'s exit code with a client for ``redis``; an unreachable Redis is one line and exit 1."""
    client = connect(redis)
    try:
        return await act(client)
    except BusUnavailable as exc:
        print(f"{prog}: Redis at {describe(redis)} is unreachable: {exc}", file=sys.stderr)
        return 1
    finally:
        await client.aclose()
