"""Shared fixtures: a real redis-server per test session, a key prefix per test, real media."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from infra.redis_server import RedisServer
from shared.keys import Keys
from shared.settings import Env, RedisSettings, Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("VIGIL_TEST_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), persist=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def keys(prefix: str) -> Keys:
    return Keys(prefix)


@pytest.fixture
def settings(redis_server: RedisServer, prefix: str, tmp_path: Path) -> Settings:
    return Settings(
        env=Env.DEVELOPMENT,
        redis=RedisSettings(url=redis_server.url, key_prefix=prefix),
        estimator={"models_dir": ROOT / "var" / "models"},
        video={"storage": tmp_path / "videos"},
        file_logger={"path": tmp_path / "logs"},
    )


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real media beside the checkout. Absent: skip locally, fail in CI (never a silent skip)."""
    if not DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"test media folder {DATA} is missing in CI")
        pytest.skip(f"test media folder {DATA} is absent (set VIGIL_TEST_DATA)")
    return DATA
