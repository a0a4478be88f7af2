"""End to end through separate processes and a real Redis: ingress -> frames -> estimator ->
estimations -> decider -> the session's reply stream -> client."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient
from infra.redis_server import RedisServer
from shared.errors import FrameCheck, SystemCode
from shared.lpproto import Command, format_message
from tests import media
from tests.stack import Stack


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("stack"),
                    VIGIL_INGRESS__MAX_IMAGE_BYTES="2000000", VIGIL_INGRESS__REPLY_TIMEOUT_S="20")
    running.start_all()
    yield running
    running.stop()


async def connected(client: LPClient, **kwargs: object) -> str:
    reply = await client.connect(**kwargs)  # type: ignore[arg-type]
    assert reply.command is Command.CONNECTED, reply.message
    assert reply.message.headers["version"] == "1.0"
    assert client.session_id is not None
    return client.session_id


@pytest.mark.anyio
async def test_face_photo_gets_stats_with_face_box(stack: Stack, data_dir: Path) -> None:
    async with LPClient(stack.ws_url) as client:
        await connected(client)
        reply = await client.frame(media.face_jpeg(data_dir))
    assert reply.command is Command.STATS
    assert reply.message.headers["content-type"] == "application/json"
    body = reply.stats()
    assert body["isOk"] is False
    assert FrameCheck.NO_FACE not in body["errors"]
    position = body["estimations"]["faceFramePosition"]
    assert 500 < position["faceRect"]["x"] < 700
    assert position["frameRect"] == {"x": 0, "y": 0, "width": 1280, "height": 720}
    assert body["estimations"]["faceCount"] == 1


@pytest.mark.anyio
async def test_no_face_and_two_faces_get_their_codes(stack: Stack, data_dir: Path) -> None:
    async with LPClient(stack.ws_url) as client:
        await connected(client)
        empty = await client.frame(media.no_face_jpeg(data_dir))
        two = await client.frame(media.jpeg(media.photo(data_dir, media.TWO_PEOPLE)))
    assert empty.stats()["errors"] == [FrameCheck.NO_FACE]
    assert "faceFramePosition" not in empty.stats()["estimations"]
    assert FrameCheck.MULTIPLE_FACES in two.stats()["errors"]
    assert two.stats()["estimations"]["faceCount"] == 2


@pytest.mark.anyio
async def test_png_frames_are_accepted(stack: Stack, data_dir: Path) -> None:
    import io

    buffer = io.BytesIO()
    media.photo(data_dir, media.FACE_PHOTO, max_side=640).save(buffer, format="PNG")
    async with LPClient(stack.ws_url) as client:
        await connected(client)
        reply = await client.frame(buffer.getvalue(), kind="png")
    assert reply.stats()["estimations"]["faceCount"] == 1


def frame_text(body: str, content_type: str = "image/x-jpeg-base64") -> str:
    return format_message(Command.FRAME, {"content-type": content_type}, body)


async def error_of(client: LPClient, text: str | bytes) -> int | None:
    await client.send_raw(text)
    reply = await client.receive()
    assert reply.command is Command.ERROR, reply.message
    return reply.error_code


@pytest.mark.anyio
async def test_bad_input_gets_documented_errors_and_the_connection_keeps_serving(
    stack: Stack, data_dir: Path,
) -> None:
    good = base64.b64encode(media.face_jpeg(data_dir)).decode()
    async with LPClient(stack.ws_url) as client:
        assert await error_of(client, frame_text(good)) == SystemCode.NOT_CONNECTED
        assert await error_of(client, "HELLO\n\n") == SystemCode.UNKNOWN_COMMAND
        assert await error_of(client, "garbage without a command") == SystemCode.MALFORMED_MESSAGE
        assert await error_of(client, "CONNECT\nversion:2.0\n\n") == SystemCode.UNSUPPORTED_VERSION
        assert await error_of(client, "CONNECT\nheartbeat:often\n\n") == SystemCode.BAD_HEADER
        assert await error_of(client, "CONNECT\n" + "x-pad:" + "a" * 10_000 + "\n\n") == SystemCode.HEADERS_TOO_LARGE
        await connected(client)
        assert await error_of(client, "CONNECT\n\n") == SystemCode.ALREADY_CONNECTED
        assert await error_of(client, "STATS\n\n{}") == SystemCode.UNKNOWN_COMMAND
        assert await error_of(client, frame_text("%%% not base64")) == SystemCode.INVALID_BASE64
        assert await error_of(client, frame_text(base64.b64encode(b"hello").decode())) == SystemCode.NOT_AN_IMAGE
        assert await error_of(client, frame_text(good, "image/gif")) == SystemCode.UNSUPPORTED_CONTENT_TYPE
        big = base64.b64encode(b"\xff\xd8\xff" + b"\0" * 2_100_000).decode()
        assert await error_of(client, frame_text(big)) == SystemCode.IMAGE_TOO_LARGE
        # The pixel bomb: a 20000x20000 PNG of ~400 KB, refused on its header before any decoding.
        bomb = base64.b64encode(media.png_bomb(20_000, 20_000)).decode()
        assert await error_of(client, frame_text(bomb, "image/x-png-base64")) == SystemCode.BAD_IMAGE_DIMENSIONS
        # A JPEG whose header reads but whose data is cut: the estimator reports it.
        truncated = base64.b64encode(media.face_jpeg(data_dir)[:2000]).decode()
        assert await error_of(client, frame_text(truncated)) == SystemCode.NOT_AN_IMAGE
        # After all that, the same connection still serves frames.
        assert (await client.frame(media.face_jpeg(data_dir))).command is Command.STATS


@pytest.mark.anyio
async def test_frame_before_previous_reply_is_refused(stack: Stack, data_dir: Path) -> None:
    text = frame_text(base64.b64encode(media.face_jpeg(data_dir)).decode())
    async with LPClient(stack.ws_url) as client:
        await connected(client)
        await client.send_raw(text)
        await client.send_raw(text)
        replies = [await client.receive(), await client.receive()]
    commands = sorted((r.command.value, r.error_code) for r in replies)
    assert commands == [("ERROR", SystemCode.FRAME_IN_FLIGHT), ("STATS", None)]


@pytest.mark.anyio
async def test_binary_message_is_refused_and_closed(stack: Stack) -> None:
    async with LPClient(stack.ws_url) as client:
        assert await error_of(client, b"\x00\x01") == SystemCode.MALFORMED_MESSAGE
        with pytest.raises(ConnectionClosed) as closed:
            await client.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4001


@pytest.mark.anyio
async def test_session_resumes_with_its_id_and_unknown_ids_are_refused(stack: Stack, data_dir: Path) -> None:
    async with LPClient(stack.ws_url) as first:
        session_id = await connected(first)
        await first.frame(media.face_jpeg(data_dir))
    async with LPClient(stack.ws_url) as second:
        assert await connected(second, session_id=session_id) == session_id
        assert (await second.frame(media.face_jpeg(data_dir))).command is Command.STATS
        unknown = f"CONNECT\nversion:1.0\nsession-id:{uuid.uuid4()}\n\n"
        assert await error_of(second, unknown) == SystemCode.ALREADY_CONNECTED
    async with LPClient(stack.ws_url) as third:
        assert await error_of(third, f"CONNECT\nsession-id:{uuid.uuid4()}\n\n") == SystemCode.UNKNOWN_SESSION
        assert await error_of(third, "CONNECT\nsession-id:not-a-uuid\n\n") == SystemCode.BAD_HEADER


@pytest.mark.anyio
async def test_heartbeats_arrive_at_the_requested_period(stack: Stack) -> None:
    async with LPClient(stack.ws_url) as client:
        await connected(client, heartbeat_ms=100)
        assert client.ws is not None
        messages: list[str | bytes] = []
        with anyio.fail_after(5):
            while len(messages) < 3:
                messages.append(await client.ws.recv())
    assert all(str(m).startswith("HEARTBEAT") for m in messages)


def test_health_reports_redis(stack: Stack) -> None:
    import urllib.request

    # The module's stack is shared: the socket a previous test closed leaves the ingress's count a
    # moment later, so wait for it (bounded) before reading the whole answer.
    deadline = time.monotonic() + 5
    while True:
        with urllib.request.urlopen(f"{stack.http_url}/health", timeout=5) as response:
            health = json.loads(response.read())
        if health.get("sessions_open") == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    # the Stack runs with admission off: no limit, and nobody is checking now
    assert health == {"status": "ok", "redis": "ok", "sessions_open": 0, "sessions_limit": None,
                      "frames_backlog": 0}


@pytest.mark.anyio
async def test_dark_frame_and_face_at_the_border_get_their_codes(stack: Stack, data_dir: Path) -> None:
    from PIL import ImageEnhance

    portrait = media.photo(data_dir, media.OTHER_FACE)
    dark = media.jpeg(ImageEnhance.Brightness(portrait).enhance(0.3))
    box = (portrait.width // 3, 0, portrait.width, portrait.height)  # cut through the left of the face
    async with LPClient(stack.ws_url) as client:
        await connected(client)
        dark_reply = (await client.frame(dark)).stats()
        border_reply = (await client.frame(media.jpeg(portrait.crop(box)))).stats()
    assert FrameCheck.DARK in dark_reply["errors"]
    quality = dark_reply["estimations"]["imageQuality"]
    assert quality["isDark"] is True
    assert quality["darkness"] < 0.5
    assert FrameCheck.FACE_TOO_CLOSE_TO_LEFT in border_reply["errors"]


@pytest.mark.anyio
async def test_a_full_redis_is_answered_1017_and_the_session_goes_on(
    stack: Stack, redis: Redis, data_dir: Path,
) -> None:
    """Redis at maxmemory (noeviction) refuses the ingress's writes: the frame gets the documented
    retry-later code, not a dropped connection, and the next frame after room is made is decided."""
    frame = media.face_jpeg(data_dir)
    async with LPClient(stack.ws_url) as client:
        assert (await client.connect()).command is Command.CONNECTED
        used = int((await redis.info("memory"))["used_memory"])
        await redis.config_set("maxmemory", max(1, used - 1_000_000))
        try:
            refused = await client.frame(frame)
        finally:
            await redis.config_set("maxmemory", 0)
        assert refused.error_code == SystemCode.BUS_UNAVAILABLE, refused.message
        assert (await client.frame(frame)).command is Command.STATS
