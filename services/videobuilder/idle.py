"""The encoder's own thread, which the kernel runs only on CPU time nothing else wants (SCHED_IDLE).

The whole builder runs at niceness 10, which still gives it a share of a contended core (CFS
weight 110 against 1024 at niceness 0, about a tenth beside one busy thread), taken from the live
sessions' replies: at 12 sessions on two cores the p95 round trip was 261 ms so, and 196 ms with
the encoder here (docs/capacity.md). Under SCHED_IDLE the encoder (and the x265 threads it
starts, which inherit the policy) yields at once to any other runnable thread, and takes the idle
time between frames. The frames' collector stays at niceness 10, so the frames are still copied
out of the shared stream before it is trimmed. A machine with no idle time at all would hold the
finished sessions' frames in Redis (``video.expires``) until it has some: admission control keeps
it out of that state (docs/video.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio.to_thread

log = logging.getLogger(__name__)
T = TypeVar("T")


def _lower_priority() -> None:
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: this thread (Linux)
    except (AttributeError, OSError) as exc:  # not Linux, or a sandbox that forbids it
        log.warning("video encoding stays at niceness %d: SCHED_IDLE refused (%s)", os.nice(0), exc)


class IdleThread:
    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode-idle", initializer=_lower_priority)

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` on the idle thread; like ``anyio.to_thread.run_sync``, a cancelled
        caller still waits for it to finish (an encoder is not interrupted half-way)."""
        future = self.pool.submit(function, *args)
        return await anyio.to_thread.run_sync(future.result)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
