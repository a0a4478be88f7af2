"""Starts every Vigil process, prefixes their logs, restarts crashed workers within a budget,
and stops them all cleanly on Ctrl-C / SIGTERM.

Redis: ``VIGIL_REDIS__URL`` when given; otherwise an embedded redis-server under ``var/redis``
(see infra/redis_server.py), started first, restarted when it dies, and stopped last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from infra.redis_server import Persistence, RedisServer
from shared.errors import ConfigError
from shared.redis_url import embedded_password, shown
from shared.settings import Settings

log = logging.getLogger("vigil.launcher")

SERVICES: dict[str, list[str]] = {
    "ingress": ["-m", "services.ingress"],
    "estimator": ["-m", "services.estimator"],
    "decider": ["-m", "services.decider"],
    "plugins": ["-m", "services.plugins"],
    "videobuilder": ["-m", "services.videobuilder"],
    "admin": ["-m", "admin"],
}


# The estimator is about two thirds of a frame's CPU and one process keeps one core busy
# (onnxruntime runs one thread per call): without --scale, one estimator per core the launcher
# may use, up to this many (measured on 2 cores: docs/operations.md "Capacity").
MAX_DEFAULT_ESTIMATORS = 4
# glibc gives each thread that allocates its own malloc arena (up to 8 per core); a service whose
# thread pool writes frames (the FileLogger) then holds memory freed in one arena that the next
# allocation in another cannot reuse, and its RSS creeps for the first tens of minutes (the plugins
# process +12.9 % in the 30-minute soak of 2026-12-07). Two arenas cap that; the pool's threads
# only do file I/O, so they do not contend for them. Unset by a person who sets it themselves.
ALLOCATOR_ENV = {"MALLOC_ARENA_MAX": "2"}
# A restarted embedded Redis loads its append-only file before it answers (the 30-minute soak's
# file reached 1.4 GB).
REDIS_RESTART_TIMEOUT_S = 60.0


def default_scale() -> dict[str, int]:
    return {"estimator": max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_ESTIMATORS))}


@dataclass
class Worker:
    name: str
    args: list[str]
    process: asyncio.subprocess.Process | None = None
    restarts: deque[float] = field(default_factory=deque)
    metrics_port: int = 0  # its /metrics and /health/* port (shared/endpoint.py); 0: none


class Launcher:
    def __init__(self, settings: Settings, *, scale: dict[str, int], var_dir: Path,
                 restart_budget: int = 5, restart_window_s: float = 60.0) -> None:
        self.settings, self.var_dir = settings, var_dir
        self.restart_budget, self.restart_window_s = restart_budget, restart_window_s
        scale = {**default_scale(), **scale}
        self.workers = [
            Worker(f"{name}-{i}" if scale.get(name, 1) > 1 else name, args)
            for name, args in SERVICES.items() for i in range(1, scale.get(name, 1) + 1)
        ]
        first_port = settings.metrics.launcher_first_port
        if first_port:  # one port each, in start order, kept across restarts (the scraper's targets)
            for index, worker in enumerate(self.workers):
                worker.metrics_port = first_port + index
        self.redis: RedisServer | None = None
        self.stopping = asyncio.Event()
        self.watchers: list[asyncio.Task[None]] = []

    def child_env(self, redis_url: str | None) -> dict[str, str]:
        """The children's environment: the embedded Redis's URL when the launcher started it, else
        the configured ``VIGIL_REDIS__*`` (URL, host or sentinels) as the launcher itself has it."""
        env = {**ALLOCATOR_ENV, **os.environ}
        if redis_url is not None:
            env["VIGIL_REDIS__URL"] = redis_url
        env["PYTHONUNBUFFERED"] = "1"
        return env

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        redis_url: str | None = None
        if self.settings.redis.is_embedded:
            # Its own password (var/secrets/redis.password, 0600), handed to the children in their URL.
            self.redis = RedisServer(
                self.var_dir / "redis", port=self.settings.redis.embedded_port,
                password=embedded_password(self.var_dir, create=True),
                persistence=Persistence(maxmemory_mb=self.settings.redis.embedded_maxmemory_mb))
            redis_url = await asyncio.to_thread(self.redis.start)
            log.info("embedded redis-server at %s (data in %s)", shown(redis_url), self.redis.directory)
        env = self.child_env(redis_url)
        if any(worker.metrics_port for worker in self.workers):
            log.info("metrics and health: %s", ", ".join(f"{w.name} :{w.metrics_port}" for w in self.workers))
        try:
            for worker in self.workers:
                await self._spawn(worker, env)
            self.watchers = [asyncio.create_task(self._watch(worker, env)) for worker in self.workers]
            guards = [asyncio.create_task(self._watch_redis(self.redis))] if self.redis is not None else []
            stop = asyncio.create_task(self.stopping.wait())
            done, _ = await asyncio.wait([stop, *self.watchers, *guards], return_when=asyncio.FIRST_COMPLETED)
            for guard in guards:
                guard.cancel()  # its thread ends when redis-server stops, last
            stop.cancel()
            return 0 if stop in done else 1
        finally:
            await self._stop_all()

    async def _spawn(self, worker: Worker, env: dict[str, str]) -> None:
        env = {**env, "VIGIL_METRICS__PORT": str(worker.metrics_port)}  # distinct, or 0: none (never shared)
        worker.process = await asyncio.create_subprocess_exec(
            sys.executable, *worker.args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher only; it stops the children in order
        )
        log.info("started %s (pid %d)", worker.name, worker.process.pid)

    async def _watch(self, worker: Worker, env: dict[str, str]) -> None:
        """Relay the worker's output; restart it when it dies, unless it dies too often."""
        while True:
            process = worker.process
            assert process is not None
            assert process.stdout is not None
            async for line in process.stdout:
                # A JSON log line (logging.format=json) names its process itself and stays parseable.
                prefix = "" if line.startswith(b"{") else f"[{worker.name}] "
                sys.stdout.write(f"{prefix}{line.decode(errors='replace')}")
                sys.stdout.flush()
            code = await process.wait()
            if self.stopping.is_set():
                return
            if code == 0:
                # A deliberate exit (e.g. the video builder when VideoRedis is off): not a crash.
                log.info("%s exited cleanly; not restarting it", worker.name)
                await self.stopping.wait()
                return
            now = time.monotonic()
            worker.restarts.append(now)
            while worker.restarts and now - worker.restarts[0] > self.restart_window_s:
                worker.restarts.popleft()
            if len(worker.restarts) > self.restart_budget:
                log.error("%s exited %d; restart budget (%d in %.0fs) spent, stopping",
                          worker.name, code, self.restart_budget, self.restart_window_s)
                return
            log.warning("%s exited %d; restarting", worker.name, code)
            await asyncio.sleep(min(0.5 * len(worker.restarts), 5.0))
            await self._spawn(worker, env)

    async def _watch_redis(self, redis: RedisServer) -> None:
        """Restart the embedded redis-server when it dies, on the same port and password: its
        append-only file brings the data back (up to the last second: appendfsync everysec), the
        services' clients reconnect by themselves, and their consumer loops recreate a lost group."""
        restarts: deque[float] = deque()
        while True:
            process = redis.process
            assert process is not None
            code = await asyncio.to_thread(process.wait)
            if self.stopping.is_set():
                return
            now = time.monotonic()
            restarts.append(now)
            while restarts and now - restarts[0] > self.restart_window_s:
                restarts.popleft()
            if len(restarts) > self.restart_budget:
                log.error("embedded redis-server exited %d; restart budget (%d in %.0fs) spent, stopping",
                          code, self.restart_budget, self.restart_window_s)
                return
            log.warning("embedded redis-server exited %d; restarting it on port %d", code, redis.port)
            try:
                await asyncio.to_thread(redis.start, REDIS_RESTART_TIMEOUT_S)
            except (ConfigError, TimeoutError) as exc:
                log.error("embedded redis-server did not come back: %s", exc)
                return
            log.info("embedded redis-server back after %.1f s", time.monotonic() - now)

    async def _stop_all(self) -> None:
        self.stopping.set()
        running = [w for w in self.workers if w.process is not None and w.process.returncode is None]
        for worker in running:
            assert worker.process is not None
            with contextlib.suppress(ProcessLookupError):
                worker.process.terminate()
        for worker in running:
            assert worker.process is not None
            try:
                await asyncio.wait_for(worker.process.wait(), 10)
            except TimeoutError:
                log.warning("%s did not stop in 10 s; killing it", worker.name)
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.process.wait()
        # The watchers relay each child's last lines until its pipe closes, then return.
        if self.watchers:
            await asyncio.wait(self.watchers, timeout=5)
        for task in self.watchers:
            task.cancel()
        if self.redis is not None:
            await asyncio.to_thread(self.redis.stop)
        log.info("all processes stopped")
