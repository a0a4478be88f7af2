"""The video encoder's thread runs under SCHED_IDLE (services/videobuilder/idle.py): the live
sessions' processes get a contended core first, and the caller's own thread is left as it was."""

from __future__ import annotations

import os
import threading

import pytest

from services.videobuilder.idle import IdleThread


def _policy() -> tuple[int, str]:
    return os.sched_getscheduler(0), threading.current_thread().name


@pytest.mark.anyio
async def test_work_runs_on_one_idle_thread_and_the_caller_is_unchanged() -> None:
    before = os.sched_getscheduler(0)
    idle = IdleThread()
    try:
        first, second = await idle.run(_policy), await idle.run(_policy)
    finally:
        idle.close()
    assert first[0] == second[0] == os.SCHED_IDLE
    assert first[1] == second[1] != threading.current_thread().name  # one thread, reused
    assert os.sched_getscheduler(0) == before


@pytest.mark.anyio
async def test_what_the_work_raises_reaches_the_caller() -> None:
    def fail() -> None:
        raise OSError("disk full")

    idle = IdleThread()
    try:
        with pytest.raises(OSError, match="disk full"):
            await idle.run(fail)
    finally:
        idle.close()
