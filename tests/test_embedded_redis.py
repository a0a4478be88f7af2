"""The embedded Redis owns its port and has its own password: a port that already answers makes
`vigil run` refuse in one line (and the other server gets none of our keys), the password stays
off the command line in a 0600 file, and `python -m admin set-password` finds that Redis by itself."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as sync_redis

from infra.redis_server import PortTaken, RedisServer
from shared.redis_url import PASSWORD_FILE, embedded_password

pytestmark = pytest.mark.e2e  # starts redis-server and `vigil run`

ROOT = Path(__file__).resolve().parent.parent


def clean_env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.upper().startswith("VIGIL_")}, **extra}


@pytest.fixture
def foreign(tmp_path: Path) -> Iterator[RedisServer]:
    """Another checkout's Redis (no password) on a port of its own."""
    server = RedisServer(tmp_path / "foreign", persist=False)
    server.start()
    yield server
    server.stop()


def test_vigil_run_refuses_a_port_that_already_answers(foreign: RedisServer, tmp_path: Path) -> None:
    env = clean_env(VIGIL_ENV="development", VIGIL_REDIS__EMBEDDED_PORT=str(foreign.port),
                    VIGIL_JWT__KEY_FILE=str(tmp_path / "jwt.key"))
    done = subprocess.run([sys.executable, "-m", "infra.cli", "run", "--var", str(tmp_path / "var")], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert f"port {foreign.port} already answers" in line
    assert "VIGIL_REDIS__EMBEDDED_PORT" in line
    assert "started " not in done.stdout
    client = sync_redis.Redis.from_url(foreign.url)
    try:
        assert client.dbsize() == 0  # none of our keys, no consumer group joined
    finally:
        client.close()


def test_a_server_already_on_the_port_is_never_taken_for_ours(foreign: RedisServer, tmp_path: Path) -> None:
    ours = RedisServer(tmp_path / "ours", port=foreign.port, persist=False, password="p" * 20)
    with pytest.raises(PortTaken, match=str(foreign.port)):
        ours.start()
    assert ours.process is None


def test_a_port_taken_between_the_check_and_the_start_is_refused_too(
        foreign: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second line of defence: the port looked free, but ours cannot bind and exits, and the
    server that answers is not ours (its pid), so it is never taken for ours."""
    monkeypatch.setattr("infra.redis_server.port_answers", lambda port, host: False)
    ours = RedisServer(tmp_path / "ours", port=foreign.port, persist=False)
    with pytest.raises(PortTaken, match=str(foreign.port)):
        ours.start()
    assert ours.process is None or ours.process.poll() is not None


def test_the_password_is_required_kept_0600_and_off_the_command_line(tmp_path: Path) -> None:
    password = embedded_password(tmp_path / "var", create=True)
    assert password is not None
    assert len(password) >= 32
    assert embedded_password(tmp_path / "var", create=True) == password  # generated once
    assert (tmp_path / "var" / PASSWORD_FILE).stat().st_mode & 0o777 == 0o600
    server = RedisServer(tmp_path / "redis", persist=False, password=password)
    server.start()
    try:
        assert server.process is not None
        assert password.encode() not in Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        anonymous = sync_redis.Redis(port=server.port)
        with pytest.raises(sync_redis.AuthenticationError):
            anonymous.set("k", "v")
        anonymous.close()
        client = sync_redis.Redis.from_url(server.url)
        assert client.ping()
        client.close()
    finally:
        server.stop()


def test_admin_set_password_finds_the_embedded_redis(tmp_path: Path) -> None:
    var = tmp_path / "var"
    server = RedisServer(tmp_path / "redis", persist=False, password=embedded_password(var, create=True))
    server.start()
    prefix = f"t{uuid.uuid4().hex[:12]}"
    try:
        # No VIGIL_REDIS__URL, no JWT key, production: what a person's second shell has.
        env = clean_env(VIGIL_REDIS__EMBEDDED_PORT=str(server.port), VIGIL_REDIS__KEY_PREFIX=prefix)
        done = subprocess.run([sys.executable, "-m", "admin", "set-password", "alice", "--var", str(var)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("new password for alice: ")
        client = sync_redis.Redis.from_url(server.url)
        assert client.hexists(f"{prefix}:admin:users", "alice")
        client.close()
    finally:
        server.stop()
