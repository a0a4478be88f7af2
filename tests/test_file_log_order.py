"""Stage-5 ordering on real Redis: the decider's bounded wait for the FileLogger's progress
(services/decider/postprocess.py) against the announcements the logger makes
(services/plugins/postprocess/progress.py). The running pipeline is in
tests/test_file_log_pipeline.py."""

from __future__ import annotations

import time

import anyio
import pytest
from redis.asyncio import Redis

from services.decider import postprocess
from services.plugins.postprocess.progress import ProgressLog
from shared.keys import Keys
from shared.messages import LoggedPart
from shared.settings import Settings

SESSION = "0b8a1a55-5c36-4b57-9a43-0d3c6c0de001"


def with_wait(settings: Settings, wait_ms: int, enabled: bool = True) -> Settings:
    return settings.model_copy(update={"file_logger": settings.file_logger.model_copy(
        update={"wait_ms": wait_ms, "is_enabled": enabled})})


@pytest.mark.anyio
async def test_written_parts_let_the_next_frame_go_at_once(redis: Redis, keys: Keys, settings: Settings) -> None:
    progress = ProgressLog(redis, keys, settings)
    await progress.written(LoggedPart.FRAME, [(SESSION, 1)])
    await progress.written(LoggedPart.ANSWER, [(SESSION, 1)])
    started = time.monotonic()
    assert await postprocess.before_deciding(redis, keys, with_wait(settings, 5000), SESSION, 1)
    assert time.monotonic() - started < 0.5
    assert await redis.ttl(keys.file_log_progress(SESSION)) > 0


@pytest.mark.anyio
async def test_the_wait_ends_when_the_missing_answer_is_written(redis: Redis, keys: Keys,
                                                                  settings: Settings) -> None:
    progress = ProgressLog(redis, keys, settings)
    await progress.written(LoggedPart.FRAME, [(SESSION, 3)])
    result: list[bool] = []

    async def decide() -> None:
        result.append(await postprocess.before_deciding(redis, keys, with_wait(settings, 5000), SESSION, 3))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(decide)
        await anyio.sleep(0.3)  # the logger is this late with the answer
        assert result == []
        written_at = time.monotonic()
        await progress.written(LoggedPart.ANSWER, [(SESSION, 3)])
    assert result == [True]
    assert time.monotonic() - written_at < 1.0
    assert not await redis.exists(keys.file_log_lapsed(SESSION))


@pytest.mark.anyio
async def test_an_old_part_beyond_the_look_back_still_counts(redis: Redis, keys: Keys, settings: Settings) -> None:
    progress = ProgressLog(redis, keys, settings)
    await progress.written(LoggedPart.ANSWER, [(SESSION, 1)])
    await progress.written(LoggedPart.FRAME, [(SESSION, n) for n in range(1, postprocess.LOOK_BACK + 5)])
    assert await postprocess.before_deciding(redis, keys, with_wait(settings, 200), SESSION, 1)


@pytest.mark.anyio
async def test_a_lapse_is_bounded_marked_and_paid_once_per_session(redis: Redis, keys: Keys,
                                                                   settings: Settings) -> None:
    bounded = with_wait(settings, 400)
    started = time.monotonic()
    assert not await postprocess.before_deciding(redis, keys, bounded, SESSION, 2)
    assert 0.35 < time.monotonic() - started < 2.0
    assert await redis.get(keys.file_log_lapsed(SESSION)) == b"2"
    started = time.monotonic()
    assert not await postprocess.before_final_answer(redis, keys, bounded, SESSION, 3)
    assert time.monotonic() - started < 0.2


@pytest.mark.anyio
async def test_nothing_is_waited_for_when_the_logger_is_off(redis: Redis, keys: Keys, settings: Settings) -> None:
    for off in (with_wait(settings, 5000, enabled=False), with_wait(settings, 0)):
        started = time.monotonic()
        assert await postprocess.before_final_answer(redis, keys, off, SESSION, 7)
        assert time.monotonic() - started < 0.2
    assert not await redis.exists(keys.file_log_lapsed(SESSION))
