"""`vigil replay`: a session recorded through the running pipeline, re-run in-process.

Unchanged settings give identical decisions frame by frame. With ``session.aggregate_frames``
raised from 5 to 50 the documented difference appears: the frame that passed (SUCCESS, the
window full of good frames) is answered STATS with no failing code (the window is not full yet).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.client import LPClient
from infra.eval.puppets import decode_frames, load_annotations
from infra.eval.stack import ROOT, Stack
from infra.redis_server import RedisServer
from infra.replay.command import merged
from infra.replay.engine import replay
from infra.replay.recorded import load
from services.plugins.postprocess.file_logger import FileLogger
from shared.keys import Group, Keys
from shared.lpproto import Command
from shared.messages import ReplyMessage, decode
from shared.redis_connect import VigilRedis
from shared.settings import Env, Settings
from tests.bus_support import wait_idle

KEY = "replay-test-signing-key-" + "r" * 32
PAD = "pad_replay_tranvanluyt/videos__real.mp4"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recorded(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory, data_dir: Path,
             ) -> Iterator[tuple[Stack, str]]:
    """One session through ingress, estimator and decider: frontal frames of a genuine video
    until it passes."""
    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("replay"),
                  VIGIL_JWT__KEY=KEY)
    try:
        stack.start_all()
        clip = load_annotations()[PAD]
        frames = decode_frames(data_dir / PAD, clip.frontal_frames()[:10])

        async def record() -> str:
            async with LPClient(stack.ws_url) as client:
                await client.connect()
                for image in frames.values():
                    if (await client.frame(image)).command is not Command.STATS:
                        break
                assert client.session_id is not None
            redis = VigilRedis.from_url(stack.redis_url)
            keys = Keys(stack.prefix)
            await wait_idle(redis, {keys.frames: Group.ESTIMATOR, keys.estimations: Group.DECIDER})
            await redis.aclose()
            return client.session_id

        import anyio

        session_id = anyio.run(record)
        yield stack, session_id
    finally:
        stack.stop()


def settings_of(stack: Stack) -> Settings:
    """The recording stack's settings (tests/stack.py's environment), for the replay."""
    return Settings(env=Env.DEVELOPMENT, redis={"url": stack.redis_url, "key_prefix": stack.prefix},
                    estimator={"models_dir": ROOT / "var" / "models"}, jwt={"key": KEY},
                    active_liveness={"is_enabled": False}, light_challenge={"is_enabled": False},
                    virtual_camera_checker={"is_enabled": False},
                    session={"previous_face_similarity": None})


@pytest.mark.anyio
@pytest.mark.timeout(180)
async def test_unchanged_settings_decide_every_frame_the_same(recorded: tuple[Stack, str]) -> None:
    stack, session_id = recorded
    redis = VigilRedis.from_url(stack.redis_url)
    try:
        recording = await load(redis, Keys(stack.prefix), session_id, None)
        assert recording.frames
        assert len(recording.answers) == len(recording.frames)
        assert recording.answers[recording.frames[-1].frame_no].kind == "SUCCESS"
        rows = await replay(redis, recording, settings_of(stack))
        for row in rows:
            print(row)
        assert all(row.same for row in rows)
        # The replay wrote nothing under the recorded prefix, and left nothing under its own.
        decisions = [decode(ReplyMessage, f) for _, f in await redis.xrange(Keys(stack.prefix).decisions)]
        assert len([d for d in decisions if d.session_id == session_id]) == len(rows)
        assert not [k async for k in redis.scan_iter(match="replay*")]
    finally:
        await redis.aclose()


@pytest.mark.anyio
@pytest.mark.timeout(180)
async def test_a_larger_aggregation_window_turns_the_success_into_stats(recorded: tuple[Stack, str],
                                                                        tmp_path: Path) -> None:
    """Also from the FileLogger's files: frames and answers.jsonl written as the logger does."""
    stack, session_id = recorded
    redis = VigilRedis.from_url(stack.redis_url)
    try:
        live = await load(redis, Keys(stack.prefix), session_id, None)
        settings = settings_of(stack)
        logger = FileLogger(settings.file_logger.model_copy(update={"path": tmp_path}))
        logger._write_frames(live.frames)
        replies = [decode(ReplyMessage, f) for _, f in await redis.xrange(Keys(stack.prefix).decisions)]
        logger._write_answers([r for r in replies if r.session_id == session_id])
        # A prefix that holds nothing: frames and answers come from the files.
        recording = await load(redis, Keys(f"gone{uuid.uuid4().hex[:8]}"), session_id, tmp_path)
        assert recording.sources["frames"] == str(tmp_path / session_id)
        assert [f.image for f in recording.frames] == [f.image for f in live.frames]
        changed = merged(settings, {"session": {"aggregate_frames": 50}})
        rows = await replay(redis, recording, changed)
        for row in rows:
            print(row)
        assert all(row.same for row in rows[:-1])
        last = rows[-1]
        assert last.recorded is not None
        assert last.recorded.kind == "SUCCESS"
        assert last.replayed is not None
        assert last.replayed.kind == "STATS"
        assert last.replayed.codes == ()
    finally:
        await redis.aclose()


@pytest.mark.anyio
@pytest.mark.timeout(180)
async def test_a_range_of_the_frames_stream_replays_every_session_in_it(recorded: tuple[Stack, str]) -> None:
    from infra.replay.recorded import load_range

    stack, session_id = recorded
    redis = VigilRedis.from_url(stack.redis_url)
    try:
        keys = Keys(stack.prefix)
        entries = await redis.xrange(keys.frames)
        first, last = entries[1][0].decode(), entries[-1][0].decode()  # all but the first frame
        recordings = await load_range(redis, keys, first, last)
        assert [r.session_id for r in recordings] == [session_id]
        assert [f.frame_no for f in recordings[0].frames] == list(range(2, len(entries) + 1))
        rows = await replay(redis, recordings[0], settings_of(stack))
        # Without frame 1 the window fills one frame later: every frame before the last is the same.
        assert all(row.same for row in rows[:-1])
    finally:
        await redis.aclose()
