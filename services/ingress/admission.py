"""Graceful overload: admit new sessions only while the pipeline keeps its latency.

Each ingress keeps a limit on its open sessions. Every half window it looks at the p95 of its own
reply times (FRAME received -> reply sent) over the window and at the estimators' backlog of
frames: while both are healthy and the limit is what holds new people back (or held someone back
who is not yet due to retry), the limit grows by one; when either is over its budget (the p95
over ``shrink_above_share`` of it, to leave room for the reaction time), it shrinks to three
quarters of the sessions open. The sessions already admitted are never dropped, so shrinking only
stops new ones until enough have finished (AIMD, as TCP's congestion window: several ingresses
sharing one pipeline converge). A session's place is free again with its last
reply. A refused client gets ERROR 1020 with ``retry-after`` and close 1013 (docs/protocol.md).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable

import numpy as np

from shared.errors import OverloadedError
from shared.settings import AdmissionSettings

log = logging.getLogger(__name__)

Backlog = Callable[[], Awaitable[int]]  # frames waiting for (or held by) the estimators
SHRINK_FACTOR = 0.75  # multiplicative decrease, of the sessions open when over budget
MIN_SAMPLES = 10  # fewer replies than this in a window say nothing about its p95


class Admission:
    def __init__(self, settings: AdmissionSettings, backlog: Backlog, clock: Callable[[], float] = time.monotonic,
                 ) -> None:
        self.settings, self.backlog_of, self.clock = settings, backlog, clock
        self.limit = float(min(settings.initial_sessions, settings.max_sessions or math.inf))
        self.open = 0
        self.samples: deque[tuple[float, float]] = deque()  # (when, reply ms)
        self.last_backlog = 0
        # When the limit last held someone back: they come back after retry-after, so until then
        # the limit is still wanted (growth waited for their return, 5 s a step, before).
        self.last_refused_at = -math.inf
        self._next_review = clock() + settings.window_s / 2

    def admit(self) -> None:
        """Count one new session in, or raise OverloadedError."""
        if self.settings.is_enabled and self.open >= self.limit:
            self.last_refused_at = self.clock()
            raise OverloadedError(f"{self.open} sessions open, limit {self.limit:.0f}",
                                  retry_after_s=self.settings.retry_after_s)
        self.open += 1

    def resumed(self) -> None:
        """A session admitted earlier, reconnecting: counted, never refused."""
        self.open += 1

    def left(self) -> None:
        self.open = max(0, self.open - 1)

    def observe(self, reply_ms: float) -> None:
        self.samples.append((self.clock(), reply_ms))
        self._forget()

    def _forget(self) -> None:
        since = self.clock() - self.settings.window_s
        while self.samples and self.samples[0][0] < since:
            self.samples.popleft()

    def p95_ms(self) -> float | None:
        self._forget()
        if len(self.samples) < MIN_SAMPLES:
            return None
        return float(np.percentile([ms for _, ms in self.samples], 95))

    async def review(self) -> None:
        """Grow or shrink the limit; called often, acts every half window."""
        now = self.clock()
        if now < self._next_review:
            return
        self._next_review = now + self.settings.window_s / 2
        s = self.settings
        self.last_backlog = await self.backlog_of()
        p95 = self.p95_ms()
        wanted_more = self.open >= self.limit - 0.5 or now - self.last_refused_at <= s.retry_after_s
        over = self.last_backlog > s.max_backlog_frames or (
            p95 is not None and p95 > s.p95_budget_ms * s.shrink_above_share)
        if over:
            shrunk = max(float(s.min_sessions), min(self.limit, self.open * SHRINK_FACTOR))
            if shrunk < self.limit:
                log.info("overloaded (p95 %s ms, backlog %d): admitting up to %d sessions (was %d)",
                         "-" if p95 is None else f"{p95:.0f}", self.last_backlog, shrunk, self.limit)
            self.limit = shrunk
        elif wanted_more and p95 is not None and p95 < s.p95_budget_ms * s.grow_below_share:
            self.limit = min(self.limit + 1, float(s.max_sessions or math.inf))
