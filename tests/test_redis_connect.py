"""The one Redis factory (shared/redis_connect.py) and its settings: each way of naming Redis
reaches a real server, a wrong one fails clearly, and no password shows in what is logged. The
Sentinel way under a real failover is tests/test_failover.py."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.exceptions import AuthenticationError

from infra.redis_server import RedisServer
from shared.redis_connect import connect, describe, with_url
from shared.settings import RedisSettings, load_settings

PASSWORD = secrets.token_urlsafe(24)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("guarded"), persist=False, password=PASSWORD)
    server.start()
    yield server
    server.stop()


@pytest.mark.anyio
async def test_host_and_password_in_parts_reach_the_server(guarded: RedisServer) -> None:
    redis = connect(RedisSettings(host="127.0.0.1", port=guarded.port, password=PASSWORD, db=2))
    try:
        await redis.set("k", "v")
        assert await redis.get("k") == b"v"
        assert (await redis.client_info())["db"] == 2
    finally:
        await redis.aclose()


@pytest.mark.anyio
async def test_a_wrong_password_is_an_authentication_error(guarded: RedisServer) -> None:
    redis = connect(RedisSettings(host="127.0.0.1", port=guarded.port, password="not-" + PASSWORD))
    try:
        with pytest.raises(AuthenticationError):
            await redis.ping()  # type: ignore[misc]
    finally:
        await redis.aclose()


@pytest.mark.anyio
async def test_a_command_url_replaces_what_the_settings_name(guarded: RedisServer) -> None:
    settings = with_url(RedisSettings(host="redis.invalid"), guarded.url)
    assert settings.host is None
    redis = connect(settings)
    try:
        assert await redis.ping()  # type: ignore[misc]
    finally:
        await redis.aclose()


def test_what_is_logged_never_holds_a_password(tmp_path: Path) -> None:
    ways = [RedisSettings(url=f"redis://user:{PASSWORD}@db.example:6380/1"),
            RedisSettings(host="db.example", password=PASSWORD, tls=True),
            RedisSettings(sentinel_master_name="vigil", sentinels=("s1:26379", "s2:26379"), password=PASSWORD,
                          sentinel_password=PASSWORD)]
    shown = [describe(way, tmp_path) for way in ways]
    assert shown == ["redis://user:***@db.example:6380/1", "rediss://db.example:6379/0",
                     "master 'vigil' of sentinels s1:26379, s2:26379"]
    assert not any(PASSWORD in line for line in shown)


@pytest.mark.parametrize(("fields", "message"), [
    ({"url": "redis://a:6379/0", "host": "b"}, "set one of URL, HOST, SENTINEL_MASTER_NAME, not URL and HOST"),
    ({"sentinel_master_name": "vigil"}, "SENTINEL_MASTER_NAME needs SENTINELS"),
    ({"sentinel_master_name": "vigil", "sentinels": ["s1"]}, 'a sentinel is "host:port"'),
    ({"sentinel_master_name": "vigil", "sentinels": ["s1:99999"]}, 'a sentinel is "host:port"'),
])
def test_contradictory_or_malformed_settings_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RedisSettings.model_validate(fields)


def test_sentinels_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"VIGIL_ENV": "development", "VIGIL_REDIS__SENTINEL_MASTER_NAME": "vigil",
                        "VIGIL_REDIS__SENTINELS": '["10.0.0.1:26379", "10.0.0.2:26379"]',
                        "VIGIL_REDIS__SENTINEL_PASSWORD": PASSWORD}.items():
        monkeypatch.setenv(name, value)
    redis = load_settings().redis
    assert redis.sentinels == ("10.0.0.1:26379", "10.0.0.2:26379")
    assert not redis.is_embedded
