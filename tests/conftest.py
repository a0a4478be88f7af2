"""Shared fixtures: a real redis-server per test session, a key prefix per test, real media."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from redis.asyncio import Redis

from infra.redis_server import RedisServer
from shared.keys import Keys
from shared.redis_connect import VigilRedis
from shared.settings import Env, RedisSettings, Settings
from tests.needs import unavailable

if TYPE_CHECKING:
    from services.estimator.analysis import FaceAnalyser
    from services.estimator.models.yunet import YuNetDetector

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
    client = VigilRedis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real media beside the checkout. Absent: skip locally, fail in CI (never a silent skip)."""
    if not DATA.is_dir():
        unavailable(f"test media folder {DATA} is absent (set VIGIL_TEST_DATA)")
    return DATA


# The estimator's models, built once per test session for the tests that run them in-process
# (imported here, not at the top, so tests that never touch a model never load onnxruntime).
ESTIMATOR = Settings(env=Env.DEVELOPMENT, session={"previous_face_similarity": None},
                     estimator={"models_dir": ROOT / "var" / "models"})


@pytest.fixture(scope="session")
def detector() -> YuNetDetector:
    from services.estimator.main import build_detector

    return build_detector(ESTIMATOR)


@pytest.fixture(scope="session")
def analyser() -> FaceAnalyser:
    from services.estimator.main import build_analyser

    return build_analyser(ESTIMATOR)


# ---- end-to-end tests: what `make check` leaves out ----------------------------------------------
# A test is end-to-end (marker ``e2e``) when it needs the media or the models, starts Vigil's
# processes (these fixtures: a new fixture that starts processes joins the set), drives a browser
# (its whole module), or starts a program in its own body (marked where it does). ``pytest -m "not
# e2e"`` (make check) runs the rest in well under a minute; ``make test`` runs everything.
E2E_FIXTURES = frozenset({
    "data_dir", "detector", "analyser",  # the media and the models
    "stack", "stack_factory", "tagged_stacks", "stalled_stack", "matcher_stack", "light_stack", "panel",
    "monitored", "framing",  # Vigil's processes (tests/stack.py)
})
BROWSER_MODULES = ("playwright", "tests.page_harness", "tests.browser_light_helpers")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = getattr(item, "module", None)
        imported = {getattr(value, "__module__", None) or getattr(value, "__name__", "")
                    for value in vars(module).values()} if module is not None else set()
        browser = any(name.startswith(BROWSER_MODULES) for name in imported if isinstance(name, str))
        if browser or E2E_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
