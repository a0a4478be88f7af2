"""Plugins through the running pipeline: the FaceMatcher on real photos of two people, and the
FileLogger writing each session's frames and answers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient
from infra.redis_server import RedisServer
from shared.errors import FrameCheck
from shared.keys import Group, Keys
from shared.lpproto import Command
from tests import media
from tests.bus_support import wait_idle
from tests.stack import Stack


@pytest.fixture
def matcher_stack(redis_server: RedisServer, tmp_path: Path) -> Iterator[Stack]:
    # The estimator describes frames 3, 6, 9...: the FaceMatcher compares those (frontal, sharp) only.
    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path,
                  VIGIL_SESSION__PREVIOUS_FACE_SIMILARITY="0.85", VIGIL_FILE_LOGGER__IS_ENABLED="true",
                  VIGIL_ESTIMATOR__DESCRIPTOR_EVERY="3")
    stack.start_all("ingress", "estimator", "decider", "plugins")
    yield stack
    stack.stop()


@pytest.mark.anyio
async def test_face_matcher_ends_the_session_when_another_person_appears(
    matcher_stack: Stack, data_dir: Path,
) -> None:
    first, second = media.neutral_jpeg(data_dir), media.jpeg(media.photo(data_dir, "cc0_portraits_interfaces/072.jpg"))
    async with LPClient(matcher_stack.ws_url) as client:
        await client.connect()
        same = [await client.frame(first) for _ in range(4)]  # frame 3 is the session's first face
        assert all(FrameCheck.FACE_CHANGED not in r.stats()["errors"] for r in same)
        between = await client.frame(second)  # frame 5 is not described: not compared, nothing said
        assert FrameCheck.FACE_CHANGED not in between.stats()["errors"]
        switched = await client.frame(second)  # frame 6 is
        assert FrameCheck.FACE_CHANGED in switched.stats()["errors"]
        with pytest.raises(ConnectionClosed) as closed, anyio.fail_after(5):
            await client.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4004


@pytest.mark.anyio
async def test_file_logger_writes_frames_and_answers(matcher_stack: Stack, redis: Redis, data_dir: Path) -> None:
    async with LPClient(matcher_stack.ws_url) as client:
        await client.connect()
        session_id = client.session_id
        replies = [await client.frame(media.no_face_jpeg(data_dir)), await client.frame(media.neutral_jpeg(data_dir))]
    assert all(r.command is Command.STATS for r in replies)
    keys = Keys(matcher_stack.prefix)
    await wait_idle(redis, {keys.frames: Group.FILE_LOGGER, keys.decisions: Group.FILE_LOGGER}, timeout=20)
    folder = matcher_stack.log_dir / "sessions" / str(session_id)
    assert (folder / "00001.jpg").read_bytes() == media.no_face_jpeg(data_dir)
    assert (folder / "00002.jpg").is_file()
    answers = [json.loads(line) for line in (folder / "answers.jsonl").read_text().splitlines()]
    assert [a["frame"] for a in answers] == [1, 2]
    assert answers[0]["codes"] == [FrameCheck.NO_FACE]


@pytest.mark.anyio
async def test_virtual_camera_evidence_is_published_as_an_event(
    redis_server: RedisServer, redis: Redis, tmp_path: Path, data_dir: Path,
) -> None:
    from shared.messages import PluginEvent, decode
    from shared.plugins import VIRTUAL_CAMERA_CHECKER

    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path,
                  VIGIL_VIRTUAL_CAMERA_CHECKER__IS_ENABLED="true")
    try:
        stack.start_all("ingress", "estimator", "decider", "plugins")
        async with LPClient(stack.ws_url) as client:
            await client.send_raw("CONNECT\nversion:1.0\ncamera-label:OBS Virtual Camera\n\n")
            assert (await client.receive()).command is Command.CONNECTED
            reply = await client.frame(media.neutral_jpeg(data_dir))
            assert reply.command is Command.STATS
        keys = Keys(stack.prefix)
        events = [decode(PluginEvent, fields) for _, fields in await redis.xrange(keys.plugin_events)]
    finally:
        stack.stop()
    assert [e.plugin for e in events] == [VIRTUAL_CAMERA_CHECKER]
    assert events[0].details["virtual_label"] == 1.0
    assert "OBS Virtual Camera" in events[0].note
