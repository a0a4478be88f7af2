"""Tokens bound to their relying party and session: ``iss``, ``aud`` (a UI config's own audience),
the CONNECT ``nonce``, the minimal claims and the authenticated best-shot endpoint, through the
running pipeline; the CONNECT header rules and the resume rule against a real Redis."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from redis.asyncio import Redis

from infra.client import LPClient
from infra.redis_server import RedisServer
from services.decider.binding import bind
from services.ingress.binding import token_binding
from services.ingress.sessions import SessionRegistry
from shared.errors import ProtocolError, SystemCode
from shared.keys import Keys
from shared.lpproto import Command
from shared.settings import JwtSettings, Settings
from shared.tokens import verify_token
from shared.transcript import transcript
from shared.ui_config import UiConfig
from tests import media
from tests.stack import Stack

KEY = "test-signing-key-" + "x" * 32
RESULTS_KEY = "relying-party-results-key-" + "r" * 20
AUDIENCE, ISSUER = "https://rp.example", "https://vigil.example"
MINIMAL_TOKEN_LIMIT = 2048  # the issue's bound: a token that fits in any HTTP header


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("stack"),
                    VIGIL_JWT__KEY=KEY, VIGIL_SESSION__AGGREGATE_FRAMES="3", VIGIL_JWT__ISSUER=ISSUER,
                    VIGIL_JWT__AUDIENCE=AUDIENCE, VIGIL_JWT__CLAIMS="minimal", VIGIL_JWT__RESULTS_KEY=RESULTS_KEY)
    running.start_all()
    yield running
    running.stop()


async def passing_token(stack: Stack, data_dir: Path, headers: dict[str, str]) -> str:
    photo = media.neutral_jpeg(data_dir)
    async with LPClient(stack.ws_url) as client:
        assert (await client.connect(extra=headers)).command is Command.CONNECTED
        replies = [await client.frame(photo) for _ in range(3)]
    assert replies[-1].command is Command.SUCCESS, [r.command for r in replies]
    return replies[-1].message.body


def fetch(url: str, key: str | None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.anyio
async def test_minimal_token_is_bound_and_its_best_shot_needs_the_relying_partys_key(
        stack: Stack, data_dir: Path) -> None:
    token = await passing_token(stack, data_dir, {"nonce": "n-0S6_WzA2Mj"})
    assert len(token) < MINIMAL_TOKEN_LIMIT, len(token)
    payload = verify_token(token, key=KEY, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
                           nonce="n-0S6_WzA2Mj")
    assert (payload["aud"], payload["iss"], payload["nonce"]) == (AUDIENCE, ISSUER, "n-0S6_WzA2Mj")
    assert "bestshot" not in payload
    assert "estimations" not in payload
    assert payload["evidence"]["liveness"] == "heuristic:recapture-cues"
    with pytest.raises(jwt.InvalidAudienceError):
        verify_token(token, key=KEY, algorithms=["HS256"], audience="https://other.example")
    with pytest.raises(jwt.InvalidAudienceError):
        verify_token(token, key=KEY, algorithms=["HS256"])  # a bound token needs its audience named
    with pytest.raises(jwt.InvalidTokenError, match="nonce"):
        verify_token(token, key=KEY, algorithms=["HS256"], audience=AUDIENCE, nonce="another-check")
    with pytest.raises(jwt.InvalidIssuerError):
        verify_token(token, key=KEY, algorithms=["HS256"], audience=AUDIENCE, issuer="https://evil.example")

    cli = [sys.executable, "-m", "infra.cli", "verify", "-", "--key", KEY]
    good = subprocess.run([*cli, "--audience", AUDIENCE, "--nonce", "n-0S6_WzA2Mj", "--issuer", ISSUER],
                          input=token, capture_output=True, text=True, timeout=30, check=False)
    assert good.returncode == 0, good.stderr
    for refused in (["--audience", AUDIENCE, "--nonce", "another-check"], ["--audience", "https://other.example"]):
        bad = subprocess.run([*cli, *refused], input=token, capture_output=True, text=True, timeout=30, check=False)
        assert bad.returncode == 1, bad.stderr
        assert bad.stderr.startswith("INVALID"), bad.stderr
        assert bad.stderr.count("\n") == 1, bad.stderr

    url = f"{stack.http_url}/api/results/{payload['jti']}"
    assert fetch(url, None)[0] == 401
    assert fetch(url, "wrong-" + RESULTS_KEY)[0] == 401
    status, result = fetch(url, RESULTS_KEY)
    assert status == 200
    assert (result["sid"], result["jti"]) == (payload["sid"], payload["jti"])
    assert len(str(result["bestshot"])) > 1000
    assert result["estimations"]["faceCount"] == 1  # type: ignore[index]
    assert fetch(f"{stack.http_url}/api/results/{uuid.uuid4()}", RESULTS_KEY)[0] == 404


@pytest.mark.anyio
async def test_the_transcript_names_the_frames_and_answers_and_a_token_is_single_use(
        stack: Stack, redis_server: RedisServer, data_dir: Path) -> None:
    photo = media.neutral_jpeg(data_dir)
    async with LPClient(stack.ws_url) as client:
        assert (await client.connect()).command is Command.CONNECTED
        replies = [await client.frame(photo) for _ in range(3)]
        session_id = client.session_id
    assert replies[-1].command is Command.SUCCESS
    token = replies[-1].message.body
    payload = verify_token(token, key=KEY, algorithms=["HS256"], audience=AUDIENCE)
    digest = hashlib.sha256(photo).hexdigest()
    codes = [reply.stats()["errors"] if reply.command is Command.STATS else [] for reply in replies]
    assert session_id is not None
    frames = [(n, digest, codes[n - 1]) for n in (1, 2, 3)]
    assert payload["transcript"] == transcript(session_id, frames)
    assert payload["transcript"] != transcript(session_id, frames[1:])  # a frame dropped: another value
    assert payload["transcript"] != transcript(session_id, [(1, digest, [30]), *frames[1:]])  # another answer

    env = {**os.environ, "VIGIL_REDIS__KEY_PREFIX": stack.prefix}
    once = [sys.executable, "-m", "infra.cli", "verify", "-", "--key", KEY, "--audience", AUDIENCE, "--once",
            "--redis-url", redis_server.url]
    first = subprocess.run(once, input=token, capture_output=True, text=True, timeout=30, check=False, env=env)
    assert first.returncode == 0, first.stderr
    again = subprocess.run(once, input=token, capture_output=True, text=True, timeout=30, check=False, env=env)
    assert again.returncode == 3, again.stderr
    assert again.stderr.startswith(f"REPLAYED: token {payload['jti']}"), again.stderr


@pytest.mark.anyio
async def test_a_ui_config_pins_its_own_audience(stack: Stack, redis: Redis, data_dir: Path) -> None:
    config = UiConfig(name="partner", audience="https://partner.example")
    await redis.hset(Keys(stack.prefix).ui_configs, config.name, config.model_dump_json())  # type: ignore[misc]
    token = await passing_token(stack, data_dir, {"ui-config": "partner"})
    assert verify_token(token, key=KEY, algorithms=["HS256"], audience="https://partner.example")["iss"] == ISSUER
    with pytest.raises(jwt.InvalidAudienceError):
        verify_token(token, key=KEY, algorithms=["HS256"], audience=AUDIENCE)


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, {}),
    ({"nonce": "abc.DEF-123_~+/="}, {"nonce": "abc.DEF-123_~+/="}),
    ({"ui-config": "partner", "nonce": " x "}, {"ui-config": "partner", "nonce": "x"}),
])
def test_binding_headers_are_kept(headers: dict[str, str], expected: dict[str, str]) -> None:
    assert token_binding(headers) == expected


@pytest.mark.parametrize("headers", [{"nonce": "with space"}, {"nonce": "x" * 129}, {"nonce": "caf\u00e9"},
                                     {"ui-config": "../etc"}])
def test_bad_binding_headers_are_bad_headers(headers: dict[str, str]) -> None:
    with pytest.raises(ProtocolError) as caught:
        token_binding(headers)
    assert caught.value.code is SystemCode.BAD_HEADER


@pytest.mark.anyio
async def test_a_resumed_session_keeps_its_nonce(redis: Redis, keys: Keys) -> None:
    sessions = SessionRegistry(redis, keys, ttl_s=60, events_maxlen=100)
    session_id = await sessions.open(None, {"nonce": "first"})
    assert await sessions.open(session_id, {}) == session_id
    assert await sessions.open(session_id, {"nonce": "first"}) == session_id
    with pytest.raises(ProtocolError) as caught:
        await sessions.open(session_id, {"nonce": "second"})
    assert caught.value.code is SystemCode.BAD_HEADER
    assert await redis.hget(keys.session(session_id), "nonce") == b"first"  # type: ignore[misc]


@pytest.mark.anyio
async def test_full_claims_keep_everything_and_gain_the_binding(redis: Redis, keys: Keys, settings: Settings) -> None:
    await redis.hset(keys.session("s1"), mapping={"nonce": "n-1", "ui-config": "no-such-config"})  # type: ignore[misc]
    claims = {"errors": [], "isOk": True, "bestshot": "QUJD", "estimations": {"faceCount": 1}, "evidence": {},
              "defences": ["actions"], "jti": "j1", "sid": "s1"}
    configured = settings.model_copy(update={"jwt": JwtSettings(issuer="https://vigil.example",
                                                                audience=("rp-a", "rp-b"))})
    bound = await bind(redis, keys, configured, "s1", claims)
    assert bound == {**claims, "iss": "https://vigil.example", "aud": ["rp-a", "rp-b"], "nonce": "n-1"}
    assert not await redis.exists(keys.result("j1"))  # nothing kept aside: the token has it all
    unbound = await bind(redis, keys, settings, "no-such-session", {**claims, "sid": "no-such-session"})
    assert not {"iss", "aud", "nonce"} & set(unbound)
