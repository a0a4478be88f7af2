"""A fuzzer of LPProto and the image path against the running services (hypothesis).

Each example is one WebSocket conversation of up to four messages drawn from: random text, binary
messages, LPProto messages with known and unknown commands, known and odd headers (huge ones,
control characters, session-id injection) and bodies (random base64, truncated and corrupted real
JPEGs, a PNG whose header announces a decompression bomb, a good frame). Every answer must be a
documented one: a server command, an ERROR whose code is in the catalogue, or a close with a
documented code; afterwards no process has died and a good frame is still answered.

``VIGIL_FUZZ_EXAMPLES`` sets the number of examples (1,000 in ``make test``; ``make fuzz`` runs
10,000). Derandomized: a CI failure reproduces.
"""

from __future__ import annotations

import base64
import os
import struct
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient
from infra.redis_server import RedisServer
from shared.errors import ProtocolError, SystemCode
from shared.lpproto import Command, parse
from tests import media
from tests.stack import Stack

EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "1000"))
SERVER_COMMANDS = {Command.CONNECTED, Command.STATS, Command.SUCCESS, Command.ERROR, Command.HEARTBEAT}
# docs/protocol.md "WebSocket close codes"; 1000 after SUCCESS
CLOSE_CODES = {1000, 1009, 1013, 4000, 4001, 4002, 4003, 4004, 4005, 4006}
CODES = {str(int(code)) for code in SystemCode}
REPLY_WAIT_S = 20.0  # a frame goes through the estimator: generous on a busy 2-core machine
HEADER_NAMES = ("content-type", "session-id", "version", "heartbeat", "frame-time", "light", "light-step",
                "light-painted", "nonce", "ui-config", "mirrored", "camera-label", "x-unknown", "")


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG signature and IHDR announcing ``width`` x ``height``, then a little data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) \
        + chunk(b"IEND", b"")


def conversations(good_jpeg: bytes) -> st.SearchStrategy[list[str | bytes]]:
    corrupt = st.builds(lambda cut, flips: bytes(
        b ^ 0xFF if i in flips else b for i, b in enumerate(good_jpeg[:cut])),
        st.integers(0, len(good_jpeg)), st.sets(st.integers(0, len(good_jpeg) - 1), max_size=8))
    image_bytes = st.one_of(st.binary(max_size=2048), corrupt, st.just(png_bomb()), st.just(good_jpeg))
    body = st.one_of(
        st.text(max_size=512),
        image_bytes.map(lambda data: base64.b64encode(data).decode()),
        image_bytes.map(lambda data: "data:image/jpeg;base64," + base64.b64encode(data).decode()),
    )
    value = st.one_of(
        st.text(max_size=64),
        st.sampled_from(["image/x-jpeg-base64", "image/x-png-base64", "1.0", "2.0", "0", "100", "-1", "1e309",
                         "nan", "../../etc/passwd", "*", "declined", "1", "\r\nSTATS", "a" * 5000]),
    )
    header = st.tuples(st.one_of(st.sampled_from(HEADER_NAMES), st.text(max_size=16)), value)
    command = st.one_of(st.sampled_from([c.value for c in Command]), st.text(max_size=12),
                        st.sampled_from(["connect", "FRAME ", " CONNECT", "FRAMES"]))
    lpproto = st.builds(
        lambda name, headers, text: "\n".join([name, *(f"{k}:{v}" for k, v in headers)]) + "\n\n" + text,
        command, st.lists(header, max_size=6), body)
    message = st.one_of(lpproto, lpproto, lpproto, st.text(max_size=256), st.binary(max_size=256))
    # Half the conversations reach the image path: a plain CONNECT, then frames of a real content type.
    frame = st.builds(
        lambda kind, headers, data: "\n".join([f"FRAME\ncontent-type:{kind}", *(f"{k}:{v}" for k, v in headers)])
        + "\n\n" + base64.b64encode(data).decode(),
        st.sampled_from(["image/x-jpeg-base64", "image/x-png-base64"]), st.lists(header, max_size=2), image_bytes)
    session = st.builds(lambda frames, tail: ["CONNECT\nversion:1.0\n\n", *frames, *tail],
                        st.lists(frame, min_size=1, max_size=2), st.lists(message, max_size=1))
    return st.one_of(st.lists(message, min_size=1, max_size=4), session)


def expects_reply(message: str | bytes) -> bool:
    """Every client message is answered once, except a well-formed HEARTBEAT."""
    if isinstance(message, bytes):
        return True
    try:
        return parse(message, max_header_bytes=4096).command is not Command.HEARTBEAT
    except ProtocolError:
        return True


def check_answer(text: str | bytes) -> None:
    assert isinstance(text, str), "the server sends text"
    answer = parse(text, max_header_bytes=1 << 20)
    assert answer.command in SERVER_COMMANDS, answer.command
    if answer.command is Command.ERROR:
        assert answer.headers.get("error") in CODES, answer.headers


async def play(url: str, conversation: list[str | bytes]) -> None:
    socket: ClientConnection
    async with connect(url, max_size=None) as socket:
        try:
            for message in conversation:
                await socket.send(message)
                if expects_reply(message):
                    with anyio.fail_after(REPLY_WAIT_S):
                        answer = await socket.recv()
                    check_answer(answer)
                    while parse(str(answer), max_header_bytes=1 << 20).command is Command.HEARTBEAT:
                        with anyio.fail_after(REPLY_WAIT_S):
                            answer = await socket.recv()
                        check_answer(answer)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            assert code in CLOSE_CODES, f"closed with {code}"


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("fuzz"))
    running.start_all()
    yield running
    running.stop()


@pytest.mark.timeout(max(120, EXAMPLES // 5))
def test_every_fuzzed_conversation_gets_documented_answers_and_nothing_dies(stack: Stack, data_dir: Path) -> None:
    good = media.face_jpeg(data_dir)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(conversations(good))
    def one(conversation: list[str | bytes]) -> None:
        anyio.run(play, stack.ws_url, conversation)

    one()
    dead = {name: process.returncode for name, process in stack.processes if process.poll() is not None}
    assert not dead, dead

    async def still_answers() -> None:
        async with LPClient(stack.ws_url) as client:
            assert (await client.connect()).command is Command.CONNECTED
            assert (await client.frame(good)).command is Command.STATS

    anyio.run(still_answers)
