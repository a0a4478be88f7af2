"""Whole sessions through the running pipeline: success with a verifiable JWT, limits that close
the session with their code, a plugin's fake mark that sticks, production replies, and the
audit stream that rebuilds the session's state."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import jwt
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient
from infra.redis_server import RedisServer
from services.decider.store import SessionStore
from shared.bus import publish
from shared.errors import FrameCheck, SystemCode
from shared.keys import Keys
from shared.lpproto import Command
from shared.messages import EstimationMessage, PluginResult, PluginVerdict, decode
from shared.settings import Env, RedisSettings, Settings
from shared.tokens import verify_token
from tests import media
from tests.stack import Stack

KEY = "test-signing-key-" + "x" * 32


@pytest.fixture
def stack_factory(redis_server: RedisServer, tmp_path: Path) -> Iterator[object]:
    stacks: list[Stack] = []

    def make(**overrides: str) -> Stack:
        stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path / f"s{len(stacks)}",
                      VIGIL_JWT__KEY=KEY, VIGIL_SESSION__AGGREGATE_FRAMES="3", **overrides)
        stacks.append(stack)
        stack.start_all()
        return stack

    yield make
    for stack in stacks:
        stack.stop()


async def closed_code(client: LPClient) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        with anyio.fail_after(5):
            await client.receive()
    return closed.value.rcvd.code if closed.value.rcvd else None


@pytest.mark.anyio
async def test_good_frames_end_in_success_with_a_verifiable_jwt(
    stack_factory: object, redis: Redis, data_dir: Path,
) -> None:
    assert callable(stack_factory)
    stack: Stack = stack_factory()
    photo = media.neutral_jpeg(data_dir)
    async with LPClient(stack.ws_url) as client:
        await client.connect()
        session_id = client.session_id
        replies = [await client.frame(photo) for _ in range(3)]
        assert [r.command for r in replies] == [Command.STATS, Command.STATS, Command.SUCCESS]
        assert await closed_code(client) == 1000
    token = replies[2].message.body
    assert replies[2].message.headers["content-type"] == "application/jwt"
    payload = verify_token(token, key=KEY, algorithms=["HS256"])
    assert payload["isOk"] is True
    assert payload["sid"] == session_id
    assert payload["errors"] == []
    assert payload["exp"] > payload["iat"]
    estimations = payload["estimations"]
    assert estimations["faceCount"] == 1
    every = {"faceFramePosition", "imageQuality", "ags", "headPose", "eyes", "mouth", "eyeglasses", "liveness",
             "deepfake", "imageModification"}
    assert every <= set(estimations), every - set(estimations)
    assert payload["evidence"]["liveness"] == "heuristic:recapture-cues"
    assert payload["bestshot"]
    with pytest.raises(jwt.InvalidSignatureError):
        verify_token(token, key="another-key-" + "y" * 32, algorithms=["HS256"])
    # The relying party's command line check.
    cli = [sys.executable, "-m", "infra.cli", "verify", "-", "--key"]  # a token with its best shot is ~100 KB
    good = subprocess.run([*cli, KEY], input=token, capture_output=True, text=True, timeout=30, check=False)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["sid"] == session_id
    bad = subprocess.run([*cli, "z" * 40], input=token, capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 1
    assert "INVALID" in bad.stderr
    # The session is over: reconnecting with its id is refused.
    async with LPClient(stack.ws_url) as again:
        reply = await again.connect(session_id=session_id)
        assert (reply.command, reply.error_code) == (Command.ERROR, SystemCode.SESSION_ENDED)
    # Event-sourced: the audit stream rebuilds exactly the live state.
    store = SessionStore(redis, Keys(stack.prefix))
    settings = Settings(env=Env.DEVELOPMENT, session={"aggregate_frames": 3},
                        redis=RedisSettings(key_prefix=stack.prefix))
    assert session_id is not None
    live = await store.load(session_id, settings)
    assert live.end is not None
    assert await store.rebuild(session_id, settings) == live


@pytest.mark.anyio
async def test_max_attempts_closes_with_its_code(stack_factory: object, data_dir: Path) -> None:
    assert callable(stack_factory)
    stack: Stack = stack_factory(VIGIL_SESSION__MAX_ATTEMPTS="2")
    async with LPClient(stack.ws_url) as client:
        await client.connect()
        first = await client.frame(media.no_face_jpeg(data_dir))
        last = await client.frame(media.no_face_jpeg(data_dir))
        assert first.stats()["errors"] == last.stats()["errors"] == [FrameCheck.NO_FACE]
        assert await closed_code(client) == 4002


@pytest.mark.anyio
async def test_production_replies_carry_no_scores(stack_factory: object, data_dir: Path) -> None:
    assert callable(stack_factory)
    stack: Stack = stack_factory(VIGIL_ENV="production")
    async with LPClient(stack.ws_url) as client:
        await client.connect()
        body = (await client.frame(media.face_jpeg(data_dir))).stats()
    assert set(body["estimations"]) == {"faceCount", "faceFramePosition"}


@pytest.mark.anyio
async def test_a_plugin_marking_the_session_fake_ends_it_for_good(
    stack_factory: object, redis: Redis, data_dir: Path,
) -> None:
    assert callable(stack_factory)
    stack: Stack = stack_factory(VIGIL_PLUGINS__EXTRA='["tester"]', VIGIL_DECIDER__PLUGIN_WAIT_MS="10000",
                                 VIGIL_THRESHOLDS__LIVENESS="null")
    keys = Keys(stack.prefix)
    await redis.xgroup_create(keys.estimations, "tester", id="0", mkstream=True)

    async def plugin() -> None:
        # A third-party plugin: reads estimations in its own group, says this frame is an attack.
        while True:
            reply = await redis.xreadgroup("tester", "t1", {keys.estimations: ">"}, count=1, block=100)
            for _, entries in reply or []:
                for _, fields in entries:
                    estimation = decode(EstimationMessage, fields)
                    verdict = PluginResult(session_id=estimation.session_id, request_id=estimation.request_id,
                                           frame_no=estimation.frame_no, plugin="tester", verdict=PluginVerdict.END,
                                           mark_fake=True)
                    await publish(redis, keys.plugin_results(estimation.session_id), verdict, maxlen=100)
                    return

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(plugin)
        async with LPClient(stack.ws_url) as client:
            await client.connect()
            session_id = client.session_id
            reply = await client.frame(media.face_jpeg(data_dir))
            assert reply.command is Command.STATS
            assert await closed_code(client) == 4005
    async with LPClient(stack.ws_url) as again:
        refused = await again.connect(session_id=session_id)
        assert (refused.command, refused.error_code) == (Command.ERROR, SystemCode.SESSION_ENDED)


@pytest.mark.anyio
async def test_each_degraded_frame_gets_its_code(stack_factory: object, data_dir: Path) -> None:
    from PIL import Image, ImageFilter

    assert callable(stack_factory)
    stack: Stack = stack_factory()
    portrait = media.photo(data_dir, media.NEUTRAL_FACE)
    small = Image.new("RGB", (640, 480), (90, 90, 90))
    small.paste(portrait.resize((100, 100)), (270, 190))  # the face is ~40 px wide
    cases = {
        FrameCheck.BLURRED: portrait.filter(ImageFilter.GaussianBlur(4)),
        FrameCheck.ROLL_TOO_LARGE: portrait.rotate(40, resample=Image.Resampling.BILINEAR, expand=True),
        FrameCheck.FACE_TOO_SMALL: small,
    }
    async with LPClient(stack.ws_url) as client:
        await client.connect()
        for code, image in cases.items():
            body = (await client.frame(media.jpeg(image))).stats()
            assert code in body["errors"], (code, body["errors"])
