"""The build loop: take the sessions whose video is due, claim each, build it.

Sessions are built one at a time per process (encoding already uses several cores); run more
builder processes for more throughput. A build that fails is retried with back-off, then the
task is marked ``error``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio

from services.videobuilder.builder import Builder
from services.videobuilder.claims import Claims
from services.videobuilder.records import VideoError
from services.videobuilder.tasks import MAX_ATTEMPTS, Status, TaskStore
from shared.bus import Backoff
from shared.errors import BusUnavailable

log = logging.getLogger(__name__)

RETRY_BASE_S = 2.0
SWEEP_EVERY_S = 60.0  # held frames outlive their session by ttl_s: a minute more changes nothing


class Scheduler:
    def __init__(
        self, tasks: TaskStore, claims: Claims, builder: Builder, caught_up: Callable[[str], Awaitable[bool]],
        *, poll_s: float = 0.5, batch: int = 8,
    ) -> None:
        self.tasks, self.claims, self.builder, self.caught_up = tasks, claims, builder, caught_up
        self.poll_s, self.batch = poll_s, batch
        self._wake = anyio.Event()

    def wake(self) -> None:
        """Look for due sessions now rather than at the next poll."""
        self._wake.set()

    async def run(self, *, drain: bool = False) -> None:
        """Build due videos forever; with ``drain``, return once no session is waiting."""
        async with anyio.create_task_group() as group:
            group.start_soon(self.claims.keep_alive)
            await self._loop(drain=drain)
            group.cancel_scope.cancel()

    async def _loop(self, *, drain: bool) -> None:
        backoff, swept = Backoff(), 0.0
        while True:
            if time.monotonic() - swept >= SWEEP_EVERY_S:
                swept = time.monotonic()
                if removed := await anyio.to_thread.run_sync(self.builder.sweep_held):
                    log.info("removed the held frames of %d sessions that can no longer resume", removed)
            try:
                due = await self.tasks.due(time.time(), self.batch)
                built = [await self._attempt(session, score) for session, score in due]
                if drain and not await self.tasks.pending_count():
                    return
                backoff.reset()
                if len(due) == self.batch and any(built):
                    continue  # more may be due: no pause
            except BusUnavailable as exc:
                log.warning("redis unavailable or full (%s); retrying in %.1fs", exc, backoff.delay_s)
                await backoff.sleep()
                continue
            with anyio.move_on_after(self.poll_s):
                await self._wake.wait()
            self._wake = anyio.Event()

    async def _attempt(self, session: str, score: float) -> bool:
        """Build ``session`` if it is ours to build now; whether it was tried."""
        async with self.claims.hold(session) as claim:
            if claim is None:
                return False  # another builder has it
            if not await self.tasks.is_due(session, score):
                return False  # finished by another builder since we looked, or new frames moved it
            task = await self.tasks.task(session)
            if task.event_id and not await self.caught_up(task.event_id):
                log.debug("session %s ended; its last frames are not held yet", session)
                return False
            try:
                await self.builder.build(session, score, task, claim)
            except VideoError as exc:
                log.error("session %s: %s", session, exc)
                await self.tasks.finish(session, score, Status.ERROR, {"error": str(exc)})
            except BusUnavailable:
                raise
            except Exception as exc:  # one session's failure must not stop the others
                log.exception("session %s: building its video failed (attempt %d)", session, task.attempts + 1)
                if task.attempts + 1 >= MAX_ATTEMPTS:
                    await self.tasks.finish(session, score, Status.ERROR, {"error": repr(exc)})
                else:
                    await self.tasks.retry_later(session, time.time() + RETRY_BASE_S * 2**task.attempts)
            return True
