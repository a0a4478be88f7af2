"""Running Vigil's services as real separate processes: `vigil eval`, end-to-end tests, benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import redis as sync_redis

from infra.launcher import ALLOCATOR_ENV
from infra.redis_server import free_port
from shared.keys import Keys

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    """Services of one Vigil deployment on a given Redis URL and key prefix."""

    def __init__(self, redis_url: str, prefix: str, log_dir: Path, redis_env: dict[str, str] | None = None, /,
                 **overrides: str) -> None:
        """``redis_url``: where the harness checks readiness; the services go there too unless
        ``redis_env`` names their Redis another way (the sentinels of tests/test_failover.py)."""
        self.redis_url, self.prefix, self.log_dir = redis_url, prefix, log_dir
        self.port = free_port()
        self.env = {
            **ALLOCATOR_ENV,  # as `vigil run` starts its children
            **{k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")},
            "VIGIL_ENV": "development",
            **(redis_env if redis_env is not None else {"VIGIL_REDIS__URL": redis_url}),
            "VIGIL_REDIS__KEY_PREFIX": prefix,
            "VIGIL_INGRESS__PORT": str(self.port),
            "VIGIL_ESTIMATOR__MODELS_DIR": str(ROOT / "var" / "models"),
            "VIGIL_VIDEO__STORAGE": str(log_dir / "videos"),
            "VIGIL_FILE_LOGGER__PATH": str(log_dir / "sessions"),
            "VIGIL_BUS__CLAIM_IDLE_MS": "1000",
            "VIGIL_BUS__BLOCK_MS": "200",
            # No plugin service in these stacks unless a test asks for one.
            "VIGIL_ACTIVE_LIVENESS__IS_ENABLED": "false",
            # These stacks measure the checks, not the overload: every session is admitted unless a
            # test turns the admission on (tests/test_admission.py).
            "VIGIL_ADMISSION__IS_ENABLED": "false",
            # Every simulated person comes from 127.0.0.1: one address must not block the others.
            "VIGIL_ABUSE__IS_ENABLED": "false",
            "VIGIL_LIGHT_CHALLENGE__IS_ENABLED": "false",
            "VIGIL_VIRTUAL_CAMERA_CHECKER__IS_ENABLED": "false",
            "VIGIL_SESSION__PREVIOUS_FACE_SIMILARITY": "null",
            # The FileLogger runs in the plugins service and the decider waits for it (stage 5):
            # stacks that test it turn it on and start "plugins".
            "VIGIL_FILE_LOGGER__IS_ENABLED": "false",
            "VIGIL_JWT__KEY_FILE": str(log_dir / "jwt.key"),
            "PYTHONUNBUFFERED": "1",
            **overrides,
        }
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, service: str, *, host: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        """``host``: a command prefix that runs the service elsewhere (``ip netns exec NAME``: the
        other host of tests/test_multihost.py); it must exec, so the pid stays the service's."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{service}-{len(self.processes)}.log").open("wb") as log:
            # The child keeps its own copy of the descriptor; the parent's closes here.
            process = subprocess.Popen(
                [*host, sys.executable, "-m", f"services.{service}"], env=self.env, cwd=ROOT, stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append((service, process))
        return process

    def start_all(self, *services: str) -> None:
        for service in services or ("ingress", "estimator", "decider"):
            self.start(service)
        self.wait_ready(services or ("ingress", "estimator", "decider"))

    def wait_ready(self, services: tuple[str, ...], timeout: float = 60.0) -> None:
        """Ingress: /health answers; a consumer: its own name is registered in its group."""
        client = sync_redis.Redis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout
        try:
            for name, process in self.processes:
                if name not in services:
                    continue
                while not self._ready(name, process, client):
                    if process.poll() is not None:
                        raise RuntimeError(f"{name} exited {process.returncode}: {self.logs(name)[-2000:]}")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"{name} not ready: {self.logs(name)[-2000:]}")
                    time.sleep(0.05)
        finally:
            client.close()

    def _ready(self, service: str, process: subprocess.Popen[bytes], client: sync_redis.Redis) -> bool:
        if service == "ingress":
            try:
                with urllib.request.urlopen(f"{self.http_url}/health", timeout=1) as response:
                    return bool(response.status == 200)
            except OSError:
                return False
        keys = Keys(self.prefix)
        # The stream each consumer service reads (its group is named after the service).
        stream = {"estimator": keys.frames, "decider": keys.estimations, "plugins": keys.estimations,
                  "videobuilder": keys.frames}[service]
        try:
            consumers = client.xinfo_consumers(stream, service)
        except sync_redis.ResponseError:
            return False
        me = f"{socket.gethostname()}:{process.pid}".encode()
        return any(c["name"] == me for c in consumers)  # type: ignore[union-attr]

    def logs(self, service: str) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob(f"{service}-*.log")))

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        for name, process in self.processes:
            if name == service and process.poll() is None:
                process.send_signal(sig)
                process.wait(10)

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.terminate()
        for _, process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
