"""The one way every process reaches Redis: services, admin panel, commands, launcher.

Three ways to name it (``RedisSettings``): a URL, host and port in parts, or a master that Redis
Sentinel names. Through the sentinels, each new connection asks them for the current master, and a
connection still open to a demoted master is dropped on its first READONLY answer (redis-py's
``SentinelManagedConnection``): after a failover the services find the new master by themselves,
and the consumer loop's recovery re-claims what the old one had delivered (docs/deployment.md).

The client is redis-py's ``Redis`` with its errors translated (``VigilRedis``): every command, a
pipeline's and a Lua script's included, raises the ``BusError`` family of shared/errors.py instead
of redis-py's exceptions, so the rest of Vigil catches only its own errors (as dramatiq's broker
translates its Redis errors at its boundary).
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, OutOfMemoryError, RedisError, ResponseError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.errors import BusConflict, BusError, BusFull, BusRefused, BusUnavailable
from shared.redis_url import VAR_DIR, resolve_url, shown
from shared.settings import RedisSettings

CONNECT_TIMEOUT_S = 5.0
# Redis pings an idle pooled connection before reuse after this long, so a dead one is replaced
# before a command fails on it.
HEALTH_CHECK_S = 10
# A sentinel that does not answer in this long is skipped for the next one: discovery must stay
# well inside the 10 s a failover may take.
SENTINEL_TIMEOUT_S = 1.0

T = TypeVar("T")
# redis-py leaves the methods the wrappers below call unannotated: the type they are called with.
Untyped = Callable[..., Awaitable[Any]]


def bus_error(exc: RedisError | OSError) -> BusError:
    """The Vigil error for what redis-py raised (the one place its exception classes are named)."""
    message = str(exc) or exc.__class__.__name__
    if isinstance(exc, OutOfMemoryError):  # "OOM command not allowed when used memory > 'maxmemory'"
        return BusFull(f"Redis is at its memory bound (maxmemory): {message}")
    # Unreachable, too slow, still loading its data, a demoted master, a refused login (redis-py's
    # AuthenticationError is a ConnectionError), or a socket error redis-py did not wrap.
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
        return BusUnavailable(message)
    if isinstance(exc, WatchError):
        return BusConflict(message)
    if isinstance(exc, ResponseError):
        return BusRefused(message)
    return BusError(message)  # e.g. DataError: a value redis-py cannot send


async def translated(command: Awaitable[T]) -> T:
    try:
        return await command
    except NoScriptError:
        raise  # redis-py's Script catches it to load the script and run it again
    except (RedisError, OSError) as exc:
        raise bus_error(exc) from exc


class VigilPipeline(Pipeline):
    """A pipeline whose round trips raise Vigil's errors: EXEC (``execute``), the commands run at
    once while WATCHing, and the UNWATCH of ``reset``."""

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        return await translated(super().execute(raise_on_error))

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        command: Untyped = super().immediate_execute_command
        return await translated(command(*args, **options))

    async def reset(self) -> None:
        command: Untyped = super().reset
        await translated(command())


class VigilRedis(Redis):
    """redis-py's client whose commands raise Vigil's errors (``bus_error``); what every process
    gets from ``connect``, and what tests build from a URL (``VigilRedis.from_url``)."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        command: Untyped = super().execute_command
        return await translated(command(*args, **options))

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> VigilPipeline:
        return VigilPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


def keepalive(redis: RedisSettings) -> dict[str, Any]:
    """TCP keepalive on every connection: a blocking read (XREADGROUP BLOCK, the ingress's reply
    wait) on a host that vanished without a reset would otherwise wait for minutes."""
    return {"socket_keepalive": True, "socket_keepalive_options": {
        socket.TCP_KEEPIDLE: redis.keepalive_idle_s, socket.TCP_KEEPINTVL: redis.keepalive_interval_s,
        socket.TCP_KEEPCNT: redis.keepalive_count}}


def secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def connect(redis: RedisSettings, *, var_dir: Path = VAR_DIR) -> Redis:
    """A client for the configured Redis (bytes in, bytes out) whose errors are Vigil's (``VigilRedis``)."""
    # redis-py 6+ retries a command once on a timeout by itself (retry_on_timeout is its default).
    options: dict[str, Any] = {"decode_responses": False, "health_check_interval": HEALTH_CHECK_S,
                               "socket_connect_timeout": CONNECT_TIMEOUT_S}
    tls: dict[str, Any] = {"ssl_ca_certs": str(redis.tls_ca_file)} if redis.tls_ca_file else {}
    if redis.sentinel_master_name:
        sentinels = [(host, int(port)) for host, _, port in (a.rpartition(":") for a in redis.sentinels)]
        sentinel_options = {"username": redis.sentinel_username, "password": secret(redis.sentinel_password),
                            "socket_connect_timeout": SENTINEL_TIMEOUT_S, "socket_timeout": SENTINEL_TIMEOUT_S}
        manager = Sentinel(sentinels, sentinel_kwargs=sentinel_options, **options, **keepalive(redis))  # type: ignore[no-untyped-call]
        master: Redis = manager.master_for(
            redis.sentinel_master_name, redis_class=VigilRedis, username=redis.username,
            password=secret(redis.password), db=redis.db, ssl=redis.tls, **(tls if redis.tls else {}))
        return master
    if redis.host:
        return VigilRedis(host=redis.host, port=redis.port, username=redis.username,
                          password=secret(redis.password), db=redis.db, ssl=redis.tls, **(tls if redis.tls else {}),
                          **options, **keepalive(redis))
    url = resolve_url(redis, var_dir)
    if url.startswith("unix:"):
        return VigilRedis.from_url(url, **options)  # no TCP, so no keepalive
    return VigilRedis.from_url(url, **options, **keepalive(redis), **(tls if url.startswith("rediss:") else {}))


def describe(redis: RedisSettings, var_dir: Path = VAR_DIR) -> str:
    """Where :func:`connect` goes, without a password: for logs and error messages."""
    if redis.sentinel_master_name:
        return f"master {redis.sentinel_master_name!r} of sentinels {', '.join(redis.sentinels)}"
    if redis.host:
        return f"{'rediss' if redis.tls else 'redis'}://{redis.host}:{redis.port}/{redis.db}"
    return shown(resolve_url(redis, var_dir))


def with_url(redis: RedisSettings, url: str | None) -> RedisSettings:
    """``redis`` with a command's ``--redis-url`` in place of whatever it named (None: unchanged)."""
    if url is None:
        return redis
    return redis.model_copy(update={"url": url, "host": None, "sentinel_master_name": None})
