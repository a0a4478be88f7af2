"""Liveness and readiness of this process, as an orchestrator asks for them (docs/monitoring.md).

Live: the process's event loop answers (the endpoint runs on it, shared/endpoint.py). Ready: it
can do work: its models are loaded, its loops have started and its last ping of Redis answered
(shared/monitor.py pings it every ``metrics.sample_interval_s``). One state per process, like
the metrics registry: the composition root marks loading and starting, the monitor marks Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from shared.metrics import READY, SERVICE_INFO


@dataclass
class Health:
    service: str = "unknown"
    loading: str | None = None  # what is loading now ("models"), None when nothing is
    started: bool = False  # its loops (consumers, the HTTP app) run
    redis_error: str | None = "not checked yet"

    def named(self, service: str) -> None:
        self.service = service
        SERVICE_INFO.labels(service).set(1)

    @contextmanager
    def loading_(self, what: str) -> Iterator[None]:
        self.loading = what
        try:
            yield
        finally:
            self.loading = None

    def mark_started(self) -> None:
        self.started = True
        self._export()

    def redis_answered(self, error: str | None) -> None:
        self.redis_error = error
        self._export()

    def readiness(self) -> tuple[bool, str]:
        """Whether the process is ready, and why (or why not), in a few words."""
        if self.loading is not None:
            return False, f"loading {self.loading}"
        if not self.started:
            return False, "starting"
        if self.redis_error is not None:
            return False, f"redis unreachable: {self.redis_error}"
        return True, "ready"

    def _export(self) -> None:
        READY.set(1 if self.readiness()[0] else 0)


HEALTH = Health()
