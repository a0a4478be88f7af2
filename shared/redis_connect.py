"""The one way every process reaches Redis: services, admin panel, commands, launcher.

Three ways to name it (``RedisSettings``): a URL, host and port in parts, or a master that Redis
Sentinel names. Through the sentinels, each new connection asks them for the current master, and a
connection still open to a demoted master is dropped on its first READONLY answer (redis-py's
``SentinelManagedConnection``): after a failover the services find the new master by themselves,
and the consumer loop's recovery re-claims what the old one had delivered (docs/deployment.md).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel

from shared.redis_url import VAR_DIR, resolve_url, shown
from shared.settings import RedisSettings

CONNECT_TIMEOUT_S = 5.0
# Redis pings an idle pooled connection before reuse after this long, so a dead one is replaced
# before a command fails on it.
HEALTH_CHECK_S = 10
# A sentinel that does not answer in this long is skipped for the next one: discovery must stay
# well inside the 10 s a failover may take.
SENTINEL_TIMEOUT_S = 1.0


def keepalive(redis: RedisSettings) -> dict[str, Any]:
    """TCP keepalive on every connection: a blocking read (XREADGROUP BLOCK, the ingress's reply
    wait) on a host that vanished without a reset would otherwise wait for minutes."""
    return {"socket_keepalive": True, "socket_keepalive_options": {
        socket.TCP_KEEPIDLE: redis.keepalive_idle_s, socket.TCP_KEEPINTVL: redis.keepalive_interval_s,
        socket.TCP_KEEPCNT: redis.keepalive_count}}


def secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def connect(redis: RedisSettings, *, var_dir: Path = VAR_DIR) -> Redis:
    """A client for the configured Redis (bytes in, bytes out)."""
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
            redis.sentinel_master_name, redis_class=Redis, username=redis.username,
            password=secret(redis.password), db=redis.db, ssl=redis.tls, **(tls if redis.tls else {}))
        return master
    if redis.host:
        return Redis(host=redis.host, port=redis.port, username=redis.username, password=secret(redis.password),
                     db=redis.db, ssl=redis.tls, **(tls if redis.tls else {}), **options, **keepalive(redis))
    url = resolve_url(redis, var_dir)
    if url.startswith("unix:"):
        return Redis.from_url(url, **options)  # no TCP, so no keepalive
    return Redis.from_url(url, **options, **keepalive(redis), **(tls if url.startswith("rediss:") else {}))


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
