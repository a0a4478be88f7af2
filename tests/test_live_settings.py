"""Live settings: stored overrides, their validation and versions, the watcher that drops stale
settings, and the running pipeline applying a change to the next frame, per tag, without a restart."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis

from infra.client import LPClient
from infra.redis_server import RedisServer
from shared.errors import FrameCheck
from shared.keys import Keys
from shared.live_config import DEFAULT_TAG, ConfigConflict, ConfigStore, InvalidOverride, StoredConfig, apply_layers
from shared.live_settings import LiveSettings
from shared.messages import ConfigChange, SessionOutcome, decode
from shared.settings import Env, Settings
from tests import media
from tests.stack import Stack


def layer(tag: str, **overrides: dict[str, object]) -> StoredConfig:
    return StoredConfig.model_validate({"tag": tag, "version": 1, "overrides": overrides})


def test_tag_layers_go_on_top_of_default_and_the_environment(settings: Settings) -> None:
    applied = apply_layers(settings, [layer(DEFAULT_TAG, thresholds={"yaw": 20.0, "pitch": 21.0}),
                                      layer("strict", thresholds={"yaw": 10.0})])
    assert (applied.thresholds.yaw, applied.thresholds.pitch) == (10.0, 21.0)
    # What was not overridden comes from the environment settings, secrets and paths included.
    assert applied.redis == settings.redis
    assert applied.file_logger.path == settings.file_logger.path
    assert applied.thresholds.roll == settings.thresholds.roll


@pytest.mark.parametrize(("overrides", "field"), [
    ({"thresholds": {"yaw": "very"}}, "thresholds.yaw"),
    ({"session": {"aggregate_frames": 0}}, "session.aggregate_frames"),
    ({"active_liveness": {"interaction_count": 9}}, "active_liveness"),  # the group's own validator
    ({"thresholds": {"no_such_field": 1}}, "thresholds.no_such_field"),
    ({"redis": {"key_prefix": "other"}}, "redis"),  # not a live group
    ({"jwt": {"key": "k" * 40}}, "jwt.key"),  # secrets stay in the environment
    ({"plugins": {"extra": ["evil"]}}, "plugins.extra"),  # code is not loaded from a web form
    ({"thresholds": {"detection": 0.9}}, "thresholds.detection"),  # the detector is built once at start
])
def test_invalid_overrides_name_the_field(settings: Settings, overrides: dict[str, dict[str, object]],
                                          field: str) -> None:
    with pytest.raises(InvalidOverride) as refused:
        apply_layers(settings, [layer(DEFAULT_TAG, **overrides)])
    assert any(name.startswith(field) for name in refused.value.errors), refused.value.errors


@pytest.mark.anyio
async def test_saving_is_versioned_announced_and_checked(redis: Redis, keys: Keys, settings: Settings) -> None:
    store = ConfigStore(redis, keys)
    first = await store.save(settings, DEFAULT_TAG, "thresholds", {"yaw": 15.0}, expected_version=0, actor="ana")
    assert (first.version, first.updated_by, first.overrides) == (1, "ana", {"thresholds": {"yaw": 15.0}})
    # Someone who loaded version 0 cannot overwrite version 1 without seeing it.
    with pytest.raises(ConfigConflict):
        await store.save(settings, DEFAULT_TAG, "thresholds", {"yaw": 30.0}, expected_version=0, actor="bob")
    # Invalid values are refused before anything is written.
    with pytest.raises(InvalidOverride):
        await store.save(settings, DEFAULT_TAG, "roi", {"width": 2.0}, expected_version=1, actor="ana")
    second = await store.save(settings, "kiosk", "session", {"aggregate_frames": 3}, expected_version=0, actor="ana")
    assert second.version == 1
    assert await store.tags() == ["default", "kiosk"]
    # Saving a group with no fields removes its overrides (back to the environment's values).
    cleared = await store.save(settings, DEFAULT_TAG, "thresholds", {}, expected_version=1, actor="ana")
    assert cleared.overrides == {}
    history = [decode(ConfigChange, fields) for _, fields in await redis.xrange(keys.config_changes)]
    assert [(c.tag, c.version, c.group, c.actor) for c in history] == [
        ("default", 1, "thresholds", "ana"), ("kiosk", 1, "session", "ana"), ("default", 2, "thresholds", "ana")]


async def changed(live: LiveSettings, tag: str | None, expect: float) -> float:
    """The tag's yaw threshold once the watcher has dropped the stale one (bounded wait)."""
    with anyio.fail_after(5):
        while (value := (await live.for_tag(tag)).thresholds.yaw) != expect:
            await anyio.sleep(0.02)
    return value


@pytest.mark.anyio
async def test_the_watcher_applies_changes_per_tag(redis: Redis, keys: Keys, settings: Settings) -> None:
    store = ConfigStore(redis, keys)
    live = LiveSettings(redis, keys, settings, block_ms=100)
    levels: list[str] = []
    live.on_own_change(lambda current: levels.append(current.logging.level))
    assert await live.start() == settings
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(live.watch)
        before = await live.for_tag("strict")
        assert await live.for_tag("strict") is before  # cached: no Redis round trip per frame
        await store.save(settings, "strict", "thresholds", {"yaw": 9.0}, expected_version=0, actor="t")
        assert await changed(live, "strict", 9.0) == 9.0
        assert (await live.for_tag(None)).thresholds.yaw == settings.thresholds.yaw  # other tags untouched
        await store.save(settings, DEFAULT_TAG, "thresholds", {"yaw": 12.0, "roll": 7.0}, expected_version=0,
                         actor="t")
        assert await changed(live, None, 12.0) == 12.0
        strict = await live.for_tag("strict")
        assert (strict.thresholds.yaw, strict.thresholds.roll) == (9.0, 7.0)  # tag on top of default
        await store.save(settings, DEFAULT_TAG, "logging", {"level": "WARNING"}, expected_version=1, actor="t")
        with anyio.fail_after(5):
            while "WARNING" not in levels:
                await anyio.sleep(0.02)
        tasks.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_bad_stored_record_falls_back_to_the_environment(
    redis: Redis, keys: Keys, settings: Settings, caplog: pytest.LogCaptureFixture,
) -> None:
    # Written by hand (or by another version): a value the models refuse.
    await redis.hset(keys.config, "default",  # type: ignore[misc]
                     layer(DEFAULT_TAG, thresholds={"yaw": "wide"}).model_dump_json())
    live = LiveSettings(redis, keys, settings)
    with caplog.at_level(logging.ERROR):
        assert await live.start() == settings
    assert "thresholds.yaw" in caplog.text
    # The way out: drop the tag's record unvalidated; the change is announced like any other.
    await ConfigStore(redis, keys).drop("default", actor="ops")
    assert await redis.hget(keys.config, "default") is None  # type: ignore[misc]
    [(_, fields)] = await redis.xrange(keys.config_changes)
    assert (decode(ConfigChange, fields).group, decode(ConfigChange, fields).actor) == ("*", "ops")


@pytest.fixture
def tagged_stacks(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Stack, Stack]]:
    """One pool of workers and two front doors: the default ingress and one tagged ``strict``."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    main = Stack(redis_server.url, prefix, tmp_path / "main")
    strict: Stack | None = None
    try:
        main.start_all("ingress", "estimator", "decider")
        # Made once the first ingress holds its port, so the free port found here is another one.
        strict = Stack(redis_server.url, prefix, tmp_path / "strict", VIGIL_CONFIG_TAG="strict")
        strict.start_all("ingress")
        yield main, strict
    finally:
        if strict is not None:
            strict.stop()
        main.stop()


async def codes(url: str, image: bytes) -> list[int]:
    async with LPClient(url) as client:
        await client.connect()
        errors: list[int] = (await client.frame(image)).stats()["errors"]
        return errors


@pytest.mark.anyio
@pytest.mark.slow
async def test_running_services_apply_a_change_to_the_next_frame_per_tag(
    tagged_stacks: tuple[Stack, Stack], redis: Redis, data_dir: Path,
) -> None:
    main, strict = tagged_stacks
    face = media.neutral_jpeg(data_dir)
    assert FrameCheck.FACE_TOO_SMALL not in await codes(main.ws_url, face)
    assert FrameCheck.FACE_TOO_SMALL not in await codes(strict.ws_url, face)
    store, base = ConfigStore(redis, Keys(main.prefix)), Settings(env=Env.DEVELOPMENT)
    # Only the strict front door's sessions need a face at least 4000 px wide (none passes).
    await store.save(base, "strict", "thresholds", {"face_width": 4000}, expected_version=0, actor="test")
    with anyio.fail_after(10):  # the services' watchers block 200 ms at most (VIGIL_BUS__BLOCK_MS)
        while FrameCheck.FACE_TOO_SMALL not in await codes(strict.ws_url, face):
            await anyio.sleep(0.05)
    assert FrameCheck.FACE_TOO_SMALL not in await codes(main.ws_url, face)
    # Back to the environment's value: the strict door accepts the face again, no restart.
    await store.save(base, "strict", "thresholds", {}, expected_version=1, actor="test")
    with anyio.fail_after(10):
        while FrameCheck.FACE_TOO_SMALL in await codes(strict.ws_url, face):
            await anyio.sleep(0.05)
    assert all(process.poll() is None for _, process in main.processes + strict.processes)


@pytest.mark.anyio
async def test_the_video_builder_reads_codec_and_frames_limit_at_each_build(
    redis: Redis, keys: Keys, settings: Settings, data_dir: Path,
) -> None:
    from services.videobuilder.main import compose
    from tests.videobuilder_helpers import (
        irregular_times,
        load_images,
        new_session,
        probe,
        publish_event,
        publish_frames,
        to_bytes,
    )

    base = settings.model_copy(update={"bus": settings.bus.model_copy(update={"block_ms": 50})})
    live = LiveSettings(redis, keys, base)
    await live.start()
    await ConfigStore(redis, keys).save(base, DEFAULT_TAG, "video", {"codec": "VP9", "frames_limit": 8},
                                        expected_version=0, actor="test")
    await live._invalidate(DEFAULT_TAG)  # what the watcher does when it reads the change
    session, times = new_session(), irregular_times(12)
    images = [to_bytes(image) for image in load_images(data_dir, 12)]
    await publish_frames(redis, keys, session, images, times)
    await publish_event(redis, keys, session, SessionOutcome.SUCCESS, at=times[-1] + 0.05, frames=12)
    with anyio.fail_after(60):
        await compose(redis, base, name="live-builder", poll_s=0.05, live=live).run(drain=True)
    got = probe(base.video.storage / f"{session}.webm")
    assert (got.codec, got.frames) == ("vp9", 8)


def test_the_config_command_sets_shows_refuses_and_drops(
    redis_server: RedisServer, prefix: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    from infra.cli import main

    for name, value in {"VIGIL_ENV": "development", "VIGIL_REDIS__URL": redis_server.url,
                        "VIGIL_REDIS__KEY_PREFIX": prefix}.items():
        monkeypatch.setenv(name, value)

    def vigil(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as done:
            main(["config", *args])
        out, err = capsys.readouterr()
        return int(done.value.code or 0), out, err

    assert vigil("set", "kiosk", "thresholds", "yaw=12", 'glasses=["no_glasses"]')[:2] == (
        0, 'kiosk v1: {"yaw": 12, "glasses": ["no_glasses"]}\n')
    code, _, err = vigil("set", "kiosk", "thresholds", "yaw=wide")
    assert code == 1
    assert "thresholds.yaw" in err
    assert vigil("set", "kiosk", "redis", "key_prefix=x")[0] == 1  # restart-only group
    code, out, _ = vigil("show", "--tag", "kiosk")
    assert code == 0
    assert StoredConfig.model_validate_json(out).overrides == {"thresholds": {"yaw": 12, "glasses": ["no_glasses"]}}
    assert "kiosk v1 thresholds" in vigil("history")[1]
    assert vigil("drop", "kiosk")[0] == 0
    assert StoredConfig.model_validate_json(vigil("show", "--tag", "kiosk")[1]).version == 0


@pytest.mark.anyio
@pytest.mark.slow
async def test_turning_the_face_matcher_on_live_gives_descriptors(
    redis_server: RedisServer, redis: Redis, tmp_path: Path, data_dir: Path,
) -> None:
    """The estimator starts with the FaceMatcher off (no descriptor on its frames); switched on in
    the live settings, the next frames carry the descriptor it needs: no restart, no stuck session."""
    from shared.messages import EstimationMessage

    # previous_face_similarity null; each check below is a new session's frame 1, so every frame is
    # to be described (by default one in estimator.descriptor_every).
    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path, VIGIL_ESTIMATOR__DESCRIPTOR_EVERY="1")
    try:
        stack.start_all("ingress", "estimator", "decider")
        keys = Keys(stack.prefix)
        face = media.neutral_jpeg(data_dir)
        await codes(stack.ws_url, face)
        await ConfigStore(redis, keys).save(Settings(env=Env.DEVELOPMENT), DEFAULT_TAG, "session",
                                            {"previous_face_similarity": 0.85}, expected_version=0, actor="test")
        with anyio.fail_after(10):
            while True:
                await codes(stack.ws_url, face)
                *_, (_, fields) = await redis.xrange(keys.estimations)
                analysis = decode(EstimationMessage, fields).analysis
                if analysis is not None and analysis.descriptor is not None:
                    break
                await anyio.sleep(0.05)
        first = decode(EstimationMessage, (await redis.xrange(keys.estimations))[0][1]).analysis
        assert first is not None
        assert first.descriptor is None  # before the change: not computed
        assert len(analysis.descriptor) == 128
    finally:
        stack.stop()
