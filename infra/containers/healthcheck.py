"""The image's HEALTHCHECK: exit 0 when this container's Vigil process is healthy, 1 otherwise.

With ``HEALTHCHECK_URL`` (compose.yaml sets it where the process serves HTTP: the ingress's and
the admin panel's ``/health``), a GET must answer 2xx. Otherwise (the workers have no HTTP
endpoint yet) the Redis of ``VIGIL_REDIS__URL`` must answer PING and a ``python -m services.*`` or
``python -m admin`` process must be running in the container. The variable is not ``VIGIL_*``
because the services refuse unknown ``VIGIL_*`` settings.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import redis

TIMEOUT_S = 3.0
MODULES = ("services.", "admin")


def url_answers(url: str) -> str | None:
    """None when ``url`` answers 2xx, else why not."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            status = int(response.status)
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"
    return None if 200 <= status < 300 else f"{url}: HTTP {status}"


def redis_answers(url: str) -> str | None:
    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"redis: {type(exc).__name__}"  # the URL holds the password: never print it
    finally:
        client.close()
    return None


def service_running(proc: Path = Path("/proc")) -> str | None:
    me = os.getpid()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        if b"-m" in argv[:-1]:
            module = argv[argv.index(b"-m") + 1].decode(errors="replace")
            if module.startswith(MODULES):
                return None
    return "no Vigil process is running"


def main() -> int:
    url = os.environ.get("HEALTHCHECK_URL")
    if url:
        problem = url_answers(url)
    else:
        redis_url = os.environ.get("VIGIL_REDIS__URL")
        problem = (redis_answers(redis_url) if redis_url else None) or service_running()
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
