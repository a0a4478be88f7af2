"""Stage-5 ordering through the running pipeline (ingress, estimator, decider and the plugins
service holding the FileLogger, as processes on a real Redis): a stalled logger holds the next
frame's decision and a session's final answer until it has written the files; a dead one costs the
session one bounded wait, never a hang, and nothing is lost once a logger is back."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient, Reply
from infra.redis_server import RedisServer
from shared.keys import Group, Keys
from shared.lpproto import Command
from tests import media
from tests.bus_support import wait_idle
from tests.stack import Stack

STALL_S = 1.5  # how long the logger is held stopped


def logger_stack(redis_server: RedisServer, log_dir: Path, **overrides: str) -> Stack:
    # Stage-3 plugins stay off (Stack's defaults): the plugins service runs only the FileLogger.
    return Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", log_dir, VIGIL_FILE_LOGGER__IS_ENABLED="true",
                 VIGIL_SESSION__AGGREGATE_FRAMES="1", VIGIL_THRESHOLDS__LIVENESS="null", **overrides)


@pytest.fixture
def stalled_stack(redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    stack = logger_stack(redis_server, tmp_path, VIGIL_FILE_LOGGER__WAIT_MS="10000")
    stack.start_all("ingress", "estimator", "decider", "plugins")
    yield stack
    stack.stop()


def pid_of(stack: Stack, service: str) -> int:
    return next(p.pid for name, p in stack.processes if name == service and p.poll() is None)


def answered_frames(folder: Path) -> list[int]:
    path = folder / "answers.jsonl"
    return [json.loads(line)["frame"] for line in path.read_text().splitlines()] if path.is_file() else []


async def answer_held_by_stalled_logger(client: LPClient, image: bytes, logger: int, why: str) -> Reply:
    """Send ``image`` while the logger is stopped: no answer may come until it is let go (``why``
    says what that would mean); the answer must come after."""
    replies: list[tuple[Reply, float]] = []

    async def send() -> None:
        reply = await client.frame(image)
        replies.append((reply, time.monotonic()))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(send)
        await anyio.sleep(STALL_S)
        assert replies == [], why
        resumed = time.monotonic()
        os.kill(logger, signal.SIGCONT)
    (reply, answered_at), = replies
    assert answered_at > resumed
    return reply


@pytest.mark.anyio
@pytest.mark.timeout(120)
async def test_a_stalled_logger_holds_the_next_frame_and_the_final_answer(stalled_stack: Stack,
                                                                          data_dir: Path) -> None:
    logger = pid_of(stalled_stack, "plugins")
    sessions = stalled_stack.log_dir / "sessions"
    no_face, face = media.no_face_jpeg(data_dir), media.neutral_jpeg(data_dir)
    os.kill(logger, signal.SIGSTOP)
    try:
        async with LPClient(stalled_stack.ws_url) as client:
            await client.connect()
            folder = sessions / str(client.session_id)
            with anyio.fail_after(10):
                first = await client.frame(no_face)  # nothing precedes it: decided at once
            assert first.command is Command.STATS
            second = await answer_held_by_stalled_logger(client, face, logger,
                                                         "frame 2 was decided before frame 1's log was written")
            # Frame 2 passes and ends the session; when the client learns it, frame 1's image and
            # answer and frame 2's image are on disk.
            assert second.command is Command.SUCCESS
            assert (folder / "00001.jpg").read_bytes() == no_face
            assert (folder / "00002.jpg").read_bytes() == face
            assert answered_frames(folder)[:1] == [1]

        # A session whose first frame is its last: the final answer waits for that frame's image.
        os.kill(logger, signal.SIGSTOP)
        async with LPClient(stalled_stack.ws_url) as client:
            await client.connect()
            folder = sessions / str(client.session_id)
            only = await answer_held_by_stalled_logger(
                client, face, logger, "the final answer was published before the session's frame was written")
            assert only.command is Command.SUCCESS
            assert (folder / "00001.jpg").read_bytes() == face
    finally:
        os.kill(logger, signal.SIGCONT)


@pytest.mark.anyio
@pytest.mark.timeout(120)
async def test_a_dead_logger_costs_one_bounded_wait_and_loses_nothing(redis_server: RedisServer, redis: Redis,
                                                                      tmp_path: Path, data_dir: Path) -> None:
    wait_ms = 1500
    stack = logger_stack(redis_server, tmp_path, VIGIL_FILE_LOGGER__WAIT_MS=str(wait_ms),
                         VIGIL_SESSION__MAX_ATTEMPTS="3")
    try:
        stack.start_all("ingress", "estimator", "decider", "plugins")
        stack.kill("plugins")
        no_face = media.no_face_jpeg(data_dir)
        latencies: list[float] = []
        async with LPClient(stack.ws_url) as client:
            await client.connect()
            session_id = str(client.session_id)
            with anyio.fail_after(3 * wait_ms / 1000 + 20):
                for _ in range(3):
                    started = time.monotonic()
                    reply = await client.frame(no_face)
                    latencies.append(time.monotonic() - started)
                # Frame 3 reached max_attempts: answered, then the session ended.
                assert reply.command is Command.STATS
                with pytest.raises(ConnectionClosed) as closed:
                    await client.receive()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4002
        assert latencies[1] >= wait_ms / 1000, latencies  # frame 2 waited the full bound, then went on
        assert latencies[2] < wait_ms / 1000, latencies  # the lapse marked the session: no second wait
        keys = Keys(stack.prefix)
        # Marked with the frame whose log was missing when the wait lapsed.
        assert await redis.get(keys.file_log_lapsed(session_id)) == b"1"
        assert "file logger has not written" in stack.logs("decider")

        # A logger started again writes everything the dead one left on the streams.
        stack.start("plugins")
        await wait_idle(redis, {keys.frames: Group.FILE_LOGGER, keys.decisions: Group.FILE_LOGGER}, timeout=30)
        folder = stack.log_dir / "sessions" / session_id
        assert sorted(p.name for p in folder.glob("*.jpg")) == ["00001.jpg", "00002.jpg", "00003.jpg"]
        assert sorted(answered_frames(folder)) == [1, 2, 3]
    finally:
        stack.stop()
