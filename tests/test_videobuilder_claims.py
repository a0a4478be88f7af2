"""Several builders: each session's video is built once, and a dead builder's session is finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from services.videobuilder.claims import Claims
from shared.keys import Keys
from shared.messages import SessionOutcome
from shared.settings import Settings
from tests.conftest import ROOT
from tests.videobuilder_helpers import (
    drain,
    irregular_times,
    load_images,
    new_session,
    probe,
    publish_event,
    publish_frames,
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
    fast_bus = settings.bus.model_copy(update={"block_ms": 50})
    return with_video(settings.model_copy(update={"bus": fast_bus}), codec="H264", lock_ms=1000)


async def publish_session(redis: Redis, keys: Keys, images: list[bytes]) -> str:
    session, times = new_session(), irregular_times(len(images))
    await publish_frames(redis, keys, session, images, times)
    await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=times[-1], frames=len(images))
    return session


async def test_a_claim_is_exclusive_renewed_and_released(redis: Redis, keys: Keys) -> None:
    first, second = Claims(redis, keys, 1000, "one"), Claims(redis, keys, 1000, "two")
    async with anyio.create_task_group() as group:
        group.start_soon(first.keep_alive)
        async with first.hold("s") as claim:
            assert claim is not None
            async with second.hold("s") as other:
                assert other is None
            await anyio.sleep(1.3)  # longer than lock_ms: renewed meanwhile
            assert await redis.get(keys.video_lock("s")) == claim.token.encode()
            await redis.set(keys.video_lock("s"), "two/taken-over")  # as if it had lapsed and been taken
            await anyio.sleep(0.5)
            assert claim.lost
        # Releasing never deletes a claim that is no longer ours.
        assert await redis.get(keys.video_lock("s")) == b"two/taken-over"
        group.cancel_scope.cancel()


async def test_a_lapsed_claim_of_a_dead_builder_is_taken_over(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes],
) -> None:
    session = await publish_session(redis, keys, jpegs[:10])
    await redis.set(keys.video_lock(session), "dead-builder/0", px=1200)
    started = time.monotonic()
    await drain(redis, vsettings)
    assert time.monotonic() - started >= 1.0  # waited for the claim to lapse
    [message] = await videos(redis, keys)
    assert (message.session_id, message.frame_count) == (session, 10)


async def test_two_builders_build_each_video_once(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes],
) -> None:
    sessions = {await publish_session(redis, keys, jpegs[i * 8:(i + 1) * 8]) for i in range(4)}
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: drain(redis, vsettings, name="builder-a"))
        group.start_soon(lambda: drain(redis, vsettings, name="builder-b"))
    messages = await videos(redis, keys)
    assert sorted(m.session_id for m in messages) == sorted(sessions)
    assert {m.frame_count for m in messages} == {8}


async def test_a_killed_builders_video_is_finished_by_another(
    redis: Redis, keys: Keys, vsettings: Settings, jpegs: list[bytes], tmp_path: Path,
) -> None:
    settings = with_video(vsettings, codec="H265")  # the slowest: the kill lands mid-encode
    images = jpegs * 3
    session = await publish_session(redis, keys, images)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("VIGIL_")} | {
        "VIGIL_ENV": "development",
        "VIGIL_REDIS__URL": str(settings.redis.url),
        "VIGIL_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "VIGIL_VIDEO__STORAGE": str(settings.video.storage),
        "VIGIL_VIDEO__CODEC": "H265",
        "VIGIL_VIDEO__LOCK_MS": "1000",
        "VIGIL_BUS__BLOCK_MS": "50",
    }
    log_path = tmp_path / "builder.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.videobuilder"], cwd=ROOT, env=env, stdout=log, stderr=log,
        )
    try:
        # Kill it once it holds the claim and is writing the file.
        with anyio.fail_after(30):
            while not list(settings.video.storage.glob(f".{session}.*.part.mp4")):
                assert process.poll() is None, log_path.read_text()
                await anyio.sleep(0.01)
        assert await redis.exists(keys.video_lock(session))
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert not (settings.video.storage / f"{session}.mp4").exists()
    assert await videos(redis, keys) == []

    await drain(redis, settings, name="survivor")
    [message] = await videos(redis, keys)
    assert (message.session_id, message.frame_count) == (session, len(images))
    assert probe(Path(message.path)).frames == len(images)
    # The half-written file of the dead builder is gone; only the video and its record remain.
    assert sorted(p.name for p in settings.video.storage.iterdir()) == [f"{session}.json", f"{session}.mp4"]
