"""The video builder end to end: real frames on the bus in, decoded video files out."""

from __future__ import annotations

import errno
import json
import logging
import time
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from services.videobuilder import builder as builder_module
from services.videobuilder import held
from services.videobuilder import scheduler as scheduler_module
from services.videobuilder.encoder import Codec, EncodeResult, SourceFrame, encode_video
from services.videobuilder.main import compose
from services.videobuilder.tasks import MAX_ATTEMPTS
from shared.keys import Group, Keys
from shared.messages import ImageType, SessionOutcome, VideoMessage
from shared.settings import Settings
from tests import videobuilder_helpers as helpers
from tests.bus_support import wait_idle
from tests.videobuilder_helpers import (
    MAX_GAP_S,
    drain,
    irregular_times,
    load_images,
    new_session,
    probe,
    publish_event,
    publish_frames,
    task_fields,
    to_bytes,
    videos,
    with_video,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def jpegs(data_dir: Path) -> list[bytes]:
    return [to_bytes(image) for image in load_images(data_dir, 40)]


@pytest.fixture
def vsettings(settings: Settings) -> Settings:
    """H.264 (the fastest) unless a test is about codecs; short blocking reads so drains end fast."""
    fast_bus = settings.bus.model_copy(update={"block_ms": 50})
    return with_video(settings.model_copy(update={"bus": fast_bus}), codec="H264")


def assert_real_time(path: Path, times: list[float]) -> None:
    """The video lasts as long as the frames took to arrive: PTS from the timestamps."""
    got = probe(path)
    span = times[-1] - times[0]
    assert got.last_frame_s == pytest.approx(span, abs=0.002)
    assert span <= got.duration_s <= span + MAX_GAP_S  # the last frame shows for about one gap


@pytest.mark.parametrize(
    ("codec", "decoded_as", "suffix", "container"),
    [("H264", "h264", ".mp4", "mp4"), ("H265", "hevc", ".mp4", "mp4"), ("VP9", "vp9", ".webm", "webm")],
)
async def test_each_codec_makes_one_real_time_video_with_its_record(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes], codec: str, decoded_as: str,
    suffix: str, container: str,
) -> None:
    settings = with_video(vsettings, codec=codec)  # session_timeout stays 60 s: SUCCESS builds at once
    session, times = new_session(), irregular_times(30)
    await publish_frames(redis, keys, session, jpegs[:30], times)
    await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=times[-1] + 0.05, frames=30,
                        jwt_id="jwt-123")
    await drain(redis, settings)

    path = settings.video.storage / f"{session}{suffix}"
    got = probe(path)
    assert (got.codec, got.frames, got.width, got.height) == (decoded_as, 30, 640, 480)
    assert container in got.container
    assert_real_time(path, times)

    [message] = await videos(redis, keys)
    assert message == VideoMessage(
        session_id=session, path=str(path), frame_count=30, codec=codec, duration_s=message.duration_s,
        outcome=SessionOutcome.SUCCESS, jwt_id="jwt-123", skipped_frames=0,
    )
    assert message.duration_s == pytest.approx(got.duration_s, abs=0.05)
    record = json.loads(path.with_suffix(".json").read_text())
    assert {k: record[k] for k in ("session_id", "frame_count", "codec", "outcome", "jwt_id", "skipped_frames")} == {
        "session_id": session, "frame_count": 30, "codec": codec, "outcome": "success", "jwt_id": "jwt-123",
        "skipped_frames": 0,
    }
    task = await task_fields(redis, keys, session)
    assert (task["status"], task["frame_count"], task["path"], task["outcome"]) == ("done", "30", str(path), "success")
    assert 0 < await redis.ttl(keys.video_task(session)) <= settings.video.result_ttl
    # Frames used in the video of an ended session are not kept; nothing waits any more.
    assert not await redis.exists(keys.video_frames(session), keys.video_lock(session))
    assert await redis.zcard(keys.video_due) == 0


async def test_frames_limit_keeps_the_last_n_frames(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes],
) -> None:
    settings = with_video(vsettings, frames_limit=10)
    session, times = new_session(), irregular_times(30)
    await publish_frames(redis, keys, session, jpegs[:30], times)
    await publish_event(redis, keys, session, SessionOutcome.FAILED, at=times[-1], frames=30)
    await drain(redis, with_video(settings, session_timeout=0))

    path = settings.video.storage / f"{session}.mp4"
    assert probe(path).frames == 10
    assert_real_time(path, times[-10:])
    [message] = await videos(redis, keys)
    assert (message.frame_count, message.outcome) == (10, SessionOutcome.FAILED)


async def test_session_resumed_before_its_timeout_yields_one_video(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes],
) -> None:
    settings = with_video(vsettings, session_timeout=3)
    session = new_session()
    first = irregular_times(15, end=time.time() - 1.5)
    builder = compose(redis, settings, name="live", poll_s=0.05)
    async with anyio.create_task_group() as group:
        group.start_soon(builder.run)
        await publish_frames(redis, keys, session, jpegs[:15], first)
        await publish_event(redis, keys, session, SessionOutcome.DISCONNECTED, at=first[-1] + 0.1, frames=15)
        await wait_idle(redis, {keys.frames: Group.VIDEOBUILDER, keys.session_events: Group.VIDEOBUILDER})
        await anyio.sleep(0.5)  # the page reconnects with the same session id, within the timeout
        assert await videos(redis, keys) == []
        second = irregular_times(15)
        await publish_frames(redis, keys, session, jpegs[15:30], second, first_no=16)
        await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=second[-1], frames=30)
        with anyio.fail_after(20):
            while not await videos(redis, keys):
                await anyio.sleep(0.05)
        group.cancel_scope.cancel()

    [message] = await videos(redis, keys)
    assert (message.frame_count, message.outcome) == (30, SessionOutcome.SUCCESS)
    assert sorted(p.name for p in settings.video.storage.iterdir()) == [f"{session}.json", f"{session}.mp4"]
    path = Path(message.path)
    assert probe(path).frames == 30
    assert_real_time(path, first + second)  # the reconnection's gap is in the video, as it happened


async def dropped(redis: Redis, keys: Keys, settings: Settings, images: list[bytes]) -> tuple[str, list[float]]:
    """A session whose client went away after ``images``, its video built: its id and frame times."""
    session = new_session()
    times = irregular_times(len(images), end=time.time() - 3)
    await publish_frames(redis, keys, session, images, times)
    await publish_event(redis, keys, session, SessionOutcome.DISCONNECTED, at=times[-1] + 0.1, frames=len(images))
    await drain(redis, settings)
    return session, times


async def test_session_resumed_after_its_video_was_built_still_has_one_video(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes],
) -> None:
    settings = with_video(vsettings, session_timeout=0)
    session, first = await dropped(redis, keys, settings, jpegs[:12])
    [early] = await videos(redis, keys)
    assert (early.frame_count, early.outcome) == (12, SessionOutcome.DISCONNECTED)
    # The session may still resume: its frames wait on disk beside the video, not in Redis.
    assert not await redis.exists(keys.video_frames(session))
    kept = held.held_path(Path(early.path))
    assert len(held.load(kept)) == 12

    second = irregular_times(12)
    await publish_frames(redis, keys, session, jpegs[12:24], second, first_no=13)
    await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=second[-1], frames=24, jwt_id="j")
    await drain(redis, settings)

    # The same file now holds the whole session; the later message supersedes the first.
    assert sorted(p.name for p in settings.video.storage.iterdir()) == [f"{session}.json", f"{session}.mp4"]
    final = (await videos(redis, keys))[-1]
    assert (final.path, final.frame_count, final.outcome, final.jwt_id) == (
        early.path, 24, SessionOutcome.SUCCESS, "j")
    assert probe(Path(final.path)).frames == 24
    assert_real_time(Path(final.path), first + second)
    assert not await redis.exists(keys.video_frames(session))
    assert not kept.exists()


async def test_held_frames_go_when_the_session_can_no_longer_resume(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes],
) -> None:
    settings = with_video(vsettings, session_timeout=0)
    await dropped(redis, keys, settings, jpegs[:6])
    [video] = await videos(redis, keys)
    kept = held.held_path(Path(video.path))
    storage = settings.video.storage
    assert held.sweep(storage, settings.session.ttl_s) == 0  # still resumable
    assert held.sweep(storage, settings.session.ttl_s, now=time.time() + settings.session.ttl_s + 1) == 1
    assert not kept.exists()
    assert Path(video.path).exists()  # the video itself stays


def test_held_frames_cut_short_yield_the_whole_ones(tmp_path: Path) -> None:
    path = tmp_path / ".s.held"
    held.save(path, [b"one", b"two", b"three"])
    assert held.load(path) == [b"one", b"two", b"three"]
    path.write_bytes(path.read_bytes()[:-2])
    assert held.load(path) == [b"one", b"two"]
    assert held.load(tmp_path / ".absent.held") == []


async def test_unfinished_sessions_wait_session_timeout(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes],
) -> None:
    settings = with_video(vsettings, session_timeout=1)
    silent, failed = new_session(), new_session()
    times = irregular_times(8)
    await publish_frames(redis, keys, silent, jpegs[:8], times)  # no event at all: the ingress died
    await publish_frames(redis, keys, failed, jpegs[8:16], times)
    await publish_event(redis, keys, failed, SessionOutcome.FAILED, at=times[-1] + 0.2, frames=8)
    await drain(redis, settings)

    records = {
        s: json.loads((settings.video.storage / f"{s}.json").read_text()) for s in (silent, failed)
    }
    assert (records[silent]["outcome"], records[failed]["outcome"]) == (None, "failed")
    assert records[silent]["built_at"] >= times[-1] + 1
    assert records[failed]["built_at"] >= times[-1] + 1.2
    assert {m.frame_count for m in await videos(redis, keys)} == {8}


async def test_corrupt_frames_are_skipped_and_counted(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes],
) -> None:
    session, times = new_session(), irregular_times(12)
    images = list(jpegs[:12])
    images[3] = images[3][: len(images[3]) // 2]  # truncated upload
    images[7] = b"\xff\xd8 this is not a JPEG"
    await publish_frames(redis, keys, session, images, times)
    await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=times[-1], frames=12)
    await drain(redis, vsettings)

    [message] = await videos(redis, keys)
    assert (message.frame_count, message.skipped_frames) == (10, 2)
    assert probe(Path(message.path)).frames == 10
    assert json.loads(Path(message.path).with_suffix(".json").read_text())["skipped_frames"] == 2


async def test_odd_and_changing_frame_sizes(
    redis: Redis, keys: Keys, vsettings: Settings, data_dir: Path,
) -> None:
    # PNG at an odd size, then a reconnection from another camera at 640x480.
    odd = [to_bytes(image, "PNG") for image in load_images(data_dir, 6, size=(321, 241))]
    large = [to_bytes(image) for image in load_images(data_dir, 4)]
    session, times = new_session(), irregular_times(10)
    await publish_frames(redis, keys, session, odd, times[:6], content_type=ImageType.PNG, size=(321, 241))
    await publish_frames(redis, keys, session, large, times[6:], first_no=7)
    await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=times[-1], frames=10)
    await drain(redis, vsettings)

    [message] = await videos(redis, keys)
    got = probe(Path(message.path))
    assert (got.frames, got.width, got.height) == (10, 320, 240)


async def test_task_hook_gets_each_video_and_its_failure_does_not_stop_the_builder(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes], caplog: pytest.LogCaptureFixture,
) -> None:
    helpers.recorded.clear()
    sessions = [new_session(), new_session()]
    for session in sessions:
        times = irregular_times(6)
        await publish_frames(redis, keys, session, jpegs[:6], times)
        await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=times[-1], frames=6)
    with caplog.at_level(logging.ERROR):
        await drain(redis, with_video(vsettings, task_hook="tests.videobuilder_helpers.failing_hook"))
    assert {m.session_id for m in await videos(redis, keys)} == set(sessions)
    assert sum("task hook failed" in r.getMessage() for r in caplog.records) == 2
    assert [(await task_fields(redis, keys, s))["status"] for s in sessions] == ["done", "done"]

    session, times = new_session(), irregular_times(6)
    await publish_frames(redis, keys, session, jpegs[:6], times)
    await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=times[-1], frames=6)
    await drain(redis, with_video(vsettings, task_hook="tests.videobuilder_helpers.recording_hook"))
    assert helpers.recorded == [(await videos(redis, keys))[-1]]


async def test_success_waits_until_the_sessions_frames_are_held(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes],
) -> None:
    session, times = new_session(), irregular_times(20)
    await publish_frames(redis, keys, session, jpegs[:20], times)
    await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=times[-1], frames=20)
    builder = compose(redis, vsettings, name="events-only", poll_s=0.05)
    await builder.events.run(drain=True)  # the event is read before the frames (two streams)
    with anyio.move_on_after(0.6):
        await builder.scheduler.run(drain=True)
    assert await videos(redis, keys) == []

    await drain(redis, vsettings)
    [message] = await videos(redis, keys)
    assert message.frame_count == 20


async def test_frames_after_the_final_video_are_dropped(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes],
) -> None:
    session, times = new_session(), irregular_times(6)
    await publish_frames(redis, keys, session, jpegs[:6], times)
    await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=times[-1], frames=6)
    await drain(redis, vsettings)
    await publish_frames(redis, keys, session, jpegs[5:6], times[5:], first_no=6)  # a redelivered copy
    await drain(redis, vsettings)
    assert len(await videos(redis, keys)) == 1
    assert not await redis.exists(keys.video_frames(session))
    assert await redis.zcard(keys.video_due) == 0


async def test_a_session_id_that_is_not_a_file_name_is_refused(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes],
) -> None:
    session, times = "../../escape", irregular_times(3)
    await publish_frames(redis, keys, session, jpegs[:3], times)
    await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=times[-1], frames=3)
    await drain(redis, vsettings)
    assert (await task_fields(redis, keys, session))["status"] == "error"
    assert await videos(redis, keys) == []
    assert not list(vsettings.video.storage.parent.rglob("escape*"))
    assert await redis.zcard(keys.video_due) == 0


async def test_a_full_disk_fails_the_video_not_the_builder(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fault test (issue 16): the video storage is full (ENOSPC while writing one session's file).
    The builder logs it, retries with back-off, then marks that task ``error`` with the reason and
    goes on: the next session's video is built. Sessions get their answers from the decider either
    way; the video builder is a separate consumer of the frames."""
    settings = with_video(vsettings, session_timeout=0)
    full, fine = new_session(), new_session()
    real = encode_video

    def encode(frames: list[SourceFrame], path: Path, codec: Codec) -> EncodeResult:
        if full in path.name:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(frames, path, codec)

    monkeypatch.setattr(builder_module, "encode_video", encode)
    monkeypatch.setattr(scheduler_module, "RETRY_BASE_S", 0.01)
    for session in (full, fine):
        times = irregular_times(4, end=time.time() - 1)
        await publish_frames(redis, keys, session, jpegs[:4], times)
        await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=times[-1], frames=4, jwt_id="j")
    with caplog.at_level(logging.ERROR, logger="services.videobuilder.scheduler"):
        await drain(redis, settings)
    failed = await task_fields(redis, keys, full)
    assert failed["status"] == "error"
    assert "No space left on device" in failed["error"]
    assert int(failed["attempts"]) == MAX_ATTEMPTS - 1  # counted on each retry, the last one ends it
    assert sum("building its video failed" in r.getMessage() for r in caplog.records) == MAX_ATTEMPTS
    assert [v.session_id for v in await videos(redis, keys)] == [fine]
    assert not list(settings.video.storage.glob(f".{full}*"))  # no half-written file left behind
