"""The frames stream trimmed by count, size and age on a real Redis; a Redis at its memory bound
answered as a documented error, not a crash; consumer lag measured from entry ids."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import redis as sync_redis
from redis.asyncio import Redis

from infra.redis_server import Persistence, RedisServer
from shared.errors import BusFull, SystemCode
from shared.keys import Keys
from shared.lag import LagWatch
from shared.messages import FrameMessage, ImageType, encode
from shared.redis_connect import VigilRedis
from shared.retention import MIN_FRAMES, StreamRetention
from shared.settings import BusSettings


def frame(size: int, number: int = 1) -> FrameMessage:
    return FrameMessage(session_id="s", request_id=f"r{number}", frame_no=number, received_at=time.time(),
                        content_type=ImageType.JPEG, image=b"\xff" * size, width=640, height=480)


def test_the_size_bound_follows_the_mean_frame_size() -> None:
    retention = StreamRetention(BusSettings(stream_maxlen=10_000, frames_max_mb=512))
    assert retention.maxlen(50_000) == 10_000  # the page's frames: the count bound applies
    for _ in range(300):  # a burst of 4 MB crafted images
        bound = retention.maxlen(4 * 1024 * 1024)
    assert bound < 200
    assert bound >= MIN_FRAMES


@pytest.mark.anyio
async def test_frames_older_than_the_age_bound_are_trimmed(redis: Redis, keys: Keys) -> None:
    retention = StreamRetention(BusSettings(frames_max_age_s=60))
    old_ms = int((time.time() - 600) * 1000)
    for i in range(450):  # ten minutes old; many, as Redis trims whole nodes of 100 entries ('~')
        await redis.xadd(keys.frames, encode(frame(100, i + 1)), id=f"{old_ms + i}-0")  # type: ignore[arg-type]
    await retention.publish(redis, [(keys.frames, frame(100, 999), 100)])
    entries = await redis.xrange(keys.frames)
    assert len(entries) <= 101, len(entries)
    newest = entries[-1][0].decode()
    assert int(newest.partition("-")[0]) > old_ms + 500_000  # the new frame stayed


@pytest.mark.anyio
async def test_frames_beyond_the_size_bound_are_trimmed(redis: Redis, keys: Keys) -> None:
    retention = StreamRetention(BusSettings(stream_maxlen=10_000, frames_max_mb=8))  # 8 MiB of 64 KiB frames
    for i in range(600):
        await retention.publish(redis, [(keys.frames, frame(64 * 1024, i + 1), 64 * 1024)])
    length = await redis.xlen(keys.frames)
    assert length <= 128 + 100, length  # the bound, plus at most one macro node Redis keeps ('~')


@pytest.mark.anyio
async def test_a_full_redis_is_a_documented_bus_error(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "full", persist=True, persistence=Persistence(appendonly=False, maxmemory_mb=2))
    server.start()
    client = VigilRedis.from_url(server.url)
    try:
        retention = StreamRetention(BusSettings(frames_max_mb=512))

        async def fill() -> None:  # 200 x 64 KiB: far past the 2 MB bound
            for i in range(200):
                await retention.publish(client, [("x:frames", frame(64 * 1024, i + 1), 64 * 1024)])

        with pytest.raises(BusFull) as caught:
            await fill()
        assert caught.value.code is SystemCode.BUS_UNAVAILABLE
    finally:
        await client.aclose()
        server.stop()


def test_the_embedded_redis_persists_only_an_append_only_file(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "r", persist=True, persistence=Persistence(maxmemory_mb=64))
    server.start()
    try:
        client = sync_redis.Redis.from_url(server.url)
        config: dict[str, str] = {}
        for pattern in ("save", "appendonly", "maxmemory*", "auto-aof-rewrite-*"):
            config.update(client.config_get(pattern))  # type: ignore[arg-type]
        client.close()
    finally:
        server.stop()
    assert config["save"] == ""  # no RDB snapshot every minute of frames
    assert config["appendonly"] == "yes"
    assert config["maxmemory"] == str(64 * 1024 * 1024)
    assert config["maxmemory-policy"] == "noeviction"
    assert config["auto-aof-rewrite-min-size"] == str(64 * 1024 * 1024)


def test_lag_is_measured_and_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    watch = LagWatch("p:frames", "videobuilder", warn_after_s=150)
    now = time.time()
    assert watch.observe([(f"{int((now - 2) * 1000)}-0".encode(), None)], now=now) == pytest.approx(2, abs=0.01)
    with caplog.at_level(logging.WARNING):
        assert watch.observe([(f"{int((now - 200) * 1000)}-3".encode(), None)], now=now) > 150
    assert "videobuilder reads p:frames 200 s behind" in caplog.text
    assert watch.max_lag_s == pytest.approx(200, abs=0.01)
