"""The LPProto state machine (services/ingress/connection.py) in process, every protocol error path
of docs/protocol.md: a ``Connection`` built with an in-memory socket and a scripted frame exchange
(Starlette's TestClient style), sessions, admission and abuse limits real on the test's Redis. No
service process, model or media: these run in seconds; tests/test_pipeline.py and test_fuzz.py
cover the same rules through the running services."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import TaskGroup
from PIL import Image
from redis.asyncio import Redis

from services.ingress.admission import Admission
from services.ingress.connection import Close, Connection, Send
from services.ingress.frames import FrameExchange
from services.ingress.images import CheckedImage
from services.ingress.limits import Client, Limits
from services.ingress.replies import CloseCode
from services.ingress.sessions import SessionRegistry
from shared.errors import BusFull, BusUnavailable, ProtocolError, SystemCode
from shared.keys import Keys
from shared.lpproto import Command, LPMessage, format_message, parse
from shared.messages import ClientInfo, LightSupport, ReplyKind, ReplyMessage, SessionEnd
from shared.settings import Env, Settings

ANSWER_S = 5  # an answer the state machine owes comes at once; this only bounds a failing test
Answer = ReplyMessage | BaseException


def jpeg(width: int = 96, height: int = 96) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (120, 100, 90)).save(out, format="JPEG")
    return out.getvalue()


def frame_text(image: bytes | None = None, content_type: str = "image/x-jpeg-base64", body: str | None = None,
               headers: dict[str, str] | None = None) -> str:
    encoded = base64.b64encode(jpeg() if image is None else image).decode() if body is None else body
    return format_message(Command.FRAME, {"content-type": content_type, **(headers or {})}, encoded)


class ScriptedExchange(FrameExchange):
    """The bus side of the FRAMEs, scripted: each answers the next reply, or raises the next
    exception; ``hold`` keeps a frame in flight until it is set."""

    def __init__(self, session_id: str, answers: list[Answer], hold: anyio.Event | None = None) -> None:
        self.session_id, self.answers, self.hold = session_id, answers, hold
        self.frames: list[int] = []
        self.clients: list[ClientInfo | None] = []  # what each frame told of the client

    async def start(self) -> None:
        return None

    async def submit(self, image: CheckedImage, frame_no: int, client: ClientInfo | None = None) -> ReplyMessage:
        self.frames.append(frame_no)
        self.clients.append(client)
        if self.hold is not None:
            await self.hold.wait()
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer.model_copy(update={"session_id": self.session_id, "frame_no": frame_no})


def stats(*, end: SessionEnd | None = None, kind: ReplyKind = ReplyKind.STATS, jwt: str | None = None) -> ReplyMessage:
    return ReplyMessage(session_id="", request_id="r", frame_no=0, kind=kind, end=end, jwt=jwt)


class Peer:
    """The client's end of one in-process connection."""

    def __init__(self, connection_of: Callable[[Send, Close], Connection], tasks: TaskGroup) -> None:
        self.inbox: list[str] = []
        self._arrived = anyio.Event()
        self.close_code: int | None = None
        self._gone = anyio.Event()
        self.tasks = tasks
        self.connection = connection_of(self._received, self._closed)

    async def _received(self, text: str) -> None:
        self.inbox.append(text)
        self._arrived.set()

    async def _closed(self, code: int, reason: str) -> None:
        self.close_code = code
        self._gone.set()

    async def closed(self) -> int | None:
        """The close code, once the connection has closed the socket."""
        with anyio.fail_after(ANSWER_S):
            await self._gone.wait()
        return self.close_code

    async def send(self, data: str | bytes) -> None:
        await self.connection.on_message(data, self.tasks)

    async def receive(self) -> LPMessage:
        with anyio.fail_after(ANSWER_S):
            while not self.inbox:
                await self._arrived.wait()
                self._arrived = anyio.Event()
        return parse(self.inbox.pop(0), max_header_bytes=1 << 16)

    async def ask(self, data: str | bytes) -> LPMessage:
        await self.send(data)
        return await self.receive()

    async def connect(self, **headers: str) -> LPMessage:
        return await self.ask(format_message(Command.CONNECT, headers))

    def nothing_more(self) -> bool:
        return not self.inbox


def error_code(message: LPMessage) -> int:
    assert message.command is Command.ERROR, message
    return int(message.headers["error"])


class Ingress:
    """What one ingress holds for its connections: settings, the session registry, admission and
    abuse limits, and the scripted exchanges by session."""

    def __init__(self, redis: Redis, keys: Keys, settings: Settings, answers: list[Answer],
                 admission: Admission | None = None, limits: Limits | None = None) -> None:
        self.settings, self.answers, self.admission, self.limits = settings, answers, admission, limits
        self.sessions = SessionRegistry(redis, keys, settings.session.ttl_s, 100)
        self.exchanges: dict[str, ScriptedExchange] = {}
        self.hold: anyio.Event | None = None

    def exchange(self, session_id: str) -> FrameExchange:
        self.exchanges[session_id] = ScriptedExchange(session_id, self.answers, self.hold)
        return self.exchanges[session_id]

    @asynccontextmanager
    async def peer(self) -> AsyncIterator[Peer]:
        async with anyio.create_task_group() as tasks:
            peer = Peer(lambda send, close: Connection(
                self.settings, self.sessions, self.exchange, send, close, admission=self.admission,
                limits=self.limits, who=Client("192.0.2.1") if self.limits else None), tasks)
            try:
                yield peer
            finally:
                tasks.cancel_scope.cancel()
                with anyio.CancelScope(shield=True):
                    await peer.connection.finish()


async def no_backlog() -> int:
    return 0


def settings_of(**groups: dict[str, Any]) -> Settings:
    base: dict[str, Any] = {"light_challenge": {"is_enabled": False}, **groups}
    return Settings(env=Env.DEVELOPMENT, **base)


@pytest.fixture
def ingress(redis: Redis, keys: Keys) -> Ingress:
    return Ingress(redis, keys, settings_of(), [stats() for _ in range(4)])


# ---- before and around CONNECT -------------------------------------------------------------------

@pytest.mark.anyio
async def test_connect_answers_connected_and_a_second_connect_is_refused(ingress: Ingress) -> None:
    async with ingress.peer() as peer:
        connected = await peer.connect()
        assert connected.command is Command.CONNECTED
        assert uuid.UUID(connected.headers["session-id"])
        assert error_code(await peer.connect()) == SystemCode.ALREADY_CONNECTED
        assert peer.close_code is None


@pytest.mark.anyio
async def test_messages_that_are_not_lpproto_are_answered_and_the_socket_stays(ingress: Ingress) -> None:
    async with ingress.peer() as peer:
        assert error_code(await peer.ask("hello there")) == SystemCode.MALFORMED_MESSAGE
        assert error_code(await peer.ask("CONNECT\nno colon\n\n")) == SystemCode.MALFORMED_MESSAGE
        assert error_code(await peer.ask("TELEPORT\n\n")) == SystemCode.UNKNOWN_COMMAND
        assert error_code(await peer.ask(format_message(Command.STATS))) == SystemCode.UNKNOWN_COMMAND
        long_header = format_message(Command.CONNECT, {"x": "a" * ingress.settings.ingress.max_header_bytes})
        assert error_code(await peer.ask(long_header)) == SystemCode.HEADERS_TOO_LARGE
        assert error_code(await peer.ask(frame_text())) == SystemCode.NOT_CONNECTED
        await peer.send(format_message(Command.HEARTBEAT))  # a keep-alive: no answer
        assert peer.nothing_more()
        assert peer.close_code is None
        assert (await peer.connect()).command is Command.CONNECTED


@pytest.mark.anyio
async def test_bad_connect_headers_are_refused_and_connect_can_be_retried(ingress: Ingress) -> None:
    async with ingress.peer() as peer:
        assert error_code(await peer.connect(version="2.0")) == SystemCode.UNSUPPORTED_VERSION
        assert error_code(await peer.connect(heartbeat="soon")) == SystemCode.BAD_HEADER
        assert error_code(await peer.connect(heartbeat="1")) == SystemCode.BAD_HEADER  # under the minimum
        assert error_code(await peer.connect(**{"session-id": "not-a-uuid"})) == SystemCode.BAD_HEADER
        for scale in ("slow", "0.5", "6", "nan"):  # more time is 1-5 times the action's time
            assert error_code(await peer.connect(**{"time-scale": scale})) == SystemCode.BAD_HEADER
        assert error_code(await peer.connect(**{"session-id": str(uuid.uuid4())})) == SystemCode.UNKNOWN_SESSION
        assert (await peer.connect(**{"time-scale": "2"})).command is Command.CONNECTED
        assert peer.close_code is None


@pytest.mark.anyio
async def test_a_binary_message_closes_with_4001_and_an_oversized_one_with_1009(ingress: Ingress) -> None:
    async with ingress.peer() as peer:
        assert error_code(await peer.ask(b"\x00\x01")) == SystemCode.MALFORMED_MESSAGE
        assert peer.close_code == CloseCode.NOT_TEXT
    async with ingress.peer() as peer:
        huge = "x" * (ingress.settings.ingress.max_message_bytes + 1)
        assert error_code(await peer.ask(huge)) == SystemCode.MESSAGE_TOO_LARGE
        assert peer.close_code == CloseCode.MESSAGE_TOO_BIG


# ---- FRAME --------------------------------------------------------------------------------------

@pytest.mark.anyio
async def test_frames_that_are_not_acceptable_images_are_refused_and_the_session_goes_on(ingress: Ingress) -> None:
    png_as_jpeg = io.BytesIO()
    Image.new("RGB", (96, 96)).save(png_as_jpeg, format="PNG")
    async with ingress.peer() as peer:
        await peer.connect()
        refusals = {
            SystemCode.UNSUPPORTED_CONTENT_TYPE: frame_text(content_type="image/gif"),
            SystemCode.INVALID_BASE64: frame_text(body="@@not base64@@"),
            SystemCode.NOT_AN_IMAGE: frame_text(image=png_as_jpeg.getvalue()),
            SystemCode.BAD_IMAGE_DIMENSIONS: frame_text(image=jpeg(32, 32)),
            SystemCode.IMAGE_TOO_LARGE: frame_text(body="A" * (ingress.settings.ingress.max_image_bytes * 4 // 3 + 8)),
        }
        for code, text in refusals.items():
            assert error_code(await peer.ask(text)) == code, code.name
        assert error_code(await peer.ask(frame_text(headers={"frame-time": "soon"}))) == SystemCode.BAD_HEADER
        no_light = frame_text(headers={"light-step": "1"})  # CONNECT did not say light:1
        assert error_code(await peer.ask(no_light)) == SystemCode.BAD_HEADER
        assert (await peer.ask(frame_text())).command is Command.STATS
        assert peer.close_code is None


@pytest.mark.anyio
async def test_a_frame_before_the_previous_answer_is_refused_and_the_first_still_answered(ingress: Ingress) -> None:
    ingress.hold = anyio.Event()
    async with ingress.peer() as peer:
        await peer.connect()
        await peer.send(frame_text())
        assert error_code(await peer.ask(frame_text())) == SystemCode.FRAME_IN_FLIGHT
        ingress.hold.set()
        assert (await peer.receive()).command is Command.STATS
        assert (await peer.ask(frame_text())).command is Command.STATS
    assert [exchange.frames for exchange in ingress.exchanges.values()] == [[1, 2]]


@pytest.mark.anyio
async def test_no_decision_in_time_and_a_lost_bus_are_answered_and_the_session_goes_on(redis: Redis,
                                                                                       keys: Keys) -> None:
    answers: list[Answer] = [ProtocolError("no decision in time", code=SystemCode.PROCESSING_TIMEOUT),
                             BusUnavailable("Error 111 connecting to 10.0.0.7:6379. Connection refused."),
                             BusFull("Redis is at its memory bound (maxmemory): OOM"), stats()]
    ingress = Ingress(redis, keys, settings_of(), answers)
    async with ingress.peer() as peer:
        await peer.connect()
        assert error_code(await peer.ask(frame_text())) == SystemCode.PROCESSING_TIMEOUT
        for _ in range(2):  # unreachable, then full: the code alone, Redis's words stay in the log
            lost = await peer.ask(frame_text())
            assert error_code(lost) == SystemCode.BUS_UNAVAILABLE
            assert "message" not in lost.headers
        assert (await peer.ask(frame_text())).command is Command.STATS
        assert peer.close_code is None


@pytest.mark.anyio
async def test_the_real_exchange_answers_1014_when_no_decider_answers(redis: Redis, keys: Keys) -> None:
    """The exchange itself (services/ingress/frames.py, shared/bus.py ``read_until``) on Redis with
    nobody deciding: the wait ends at ``ingress.reply_timeout_s``."""
    settings = settings_of(ingress={"reply_timeout_s": 0.3})
    sessions = SessionRegistry(redis, keys, settings.session.ttl_s, 100)
    async with anyio.create_task_group() as tasks:
        peer = Peer(lambda send, close: Connection(
            settings, sessions, lambda sid: FrameExchange(redis, keys, settings, sid), send, close), tasks)
        await peer.connect()
        assert error_code(await peer.ask(frame_text())) == SystemCode.PROCESSING_TIMEOUT
        assert await redis.xlen(keys.frames) == 1
        tasks.cancel_scope.cancel()


@pytest.mark.anyio
@pytest.mark.parametrize(("end", "close"), [
    (SessionEnd.MAX_ATTEMPTS, CloseCode.MAX_ATTEMPTS),
    (SessionEnd.MAX_LIVENESS_ATTEMPTS, CloseCode.MAX_LIVENESS_ATTEMPTS),
    (SessionEnd.FACE_CHANGED, CloseCode.FACE_CHANGED),
    (SessionEnd.MARKED_FAKE, CloseCode.MARKED_FAKE),
    (SessionEnd.PLUGIN, CloseCode.SESSION_OVER),
])
async def test_a_session_ending_answer_closes_with_its_code_and_the_session_cannot_resume(
        redis: Redis, keys: Keys, end: SessionEnd, close: CloseCode) -> None:
    ingress = Ingress(redis, keys, settings_of(), [stats(end=end)])
    async with ingress.peer() as peer:
        session_id = (await peer.connect()).headers["session-id"]
        assert (await peer.ask(frame_text())).command is Command.STATS
        assert await peer.closed() == close
    async with ingress.peer() as again:
        assert error_code(await again.connect(**{"session-id": session_id})) == SystemCode.SESSION_ENDED


@pytest.mark.anyio
async def test_success_sends_the_token_and_closes_normally(redis: Redis, keys: Keys) -> None:
    ingress = Ingress(redis, keys, settings_of(), [stats(kind=ReplyKind.SUCCESS, end=SessionEnd.SUCCESS, jwt="a.b.c")])
    async with ingress.peer() as peer:
        await peer.connect()
        success = await peer.ask(frame_text())
        assert (success.command, success.body) == (Command.SUCCESS, "a.b.c")
        assert await peer.closed() == CloseCode.NORMAL


@pytest.mark.anyio
async def test_a_dropped_session_resumes_with_its_frame_numbers_but_not_with_another_nonce(ingress: Ingress) -> None:
    async with ingress.peer() as peer:
        session_id = (await peer.connect(nonce="n-1")).headers["session-id"]
        await peer.ask(frame_text())
    async with ingress.peer() as peer:
        assert error_code(await peer.connect(**{"session-id": session_id, "nonce": "n-2"})) == SystemCode.BAD_HEADER
        assert (await peer.connect(**{"session-id": session_id, "nonce": "n-1"})).command is Command.CONNECTED
        await peer.ask(frame_text())
    assert ingress.exchanges[session_id].frames == [2]  # numbering goes on across connections


# ---- the first FRAME right behind CONNECT (docs/protocol.md, "The first FRAME") ---------------------

LIGHT_ON = {"light_challenge": {"is_enabled": True}}


@pytest.mark.anyio
async def test_a_frame_right_behind_connect_is_taken_in_order(ingress: Ingress) -> None:
    """The page sends its first FRAME without waiting for CONNECTED: the ingress reads a socket's
    messages one after the other, so the session is open when the FRAME is read."""
    async with ingress.peer() as peer:
        await peer.send(format_message(Command.CONNECT, {"light": "1"}))
        await peer.send(frame_text(headers={"light": "pending"}))  # no light offered: an ordinary frame
        connected = await peer.receive()
        assert connected.command is Command.CONNECTED
        assert "light" not in connected.headers
        assert (await peer.receive()).command is Command.STATS
        [exchange] = ingress.exchanges.values()
        assert exchange.frames == [1]
        assert [client.light if client else None for client in exchange.clients] == [LightSupport.SHOWN]
        assert (await peer.ask(frame_text())).command is Command.STATS


@pytest.mark.anyio
async def test_a_light_pending_frame_is_dropped_unanswered_where_the_light_is_offered(redis: Redis,
                                                                                      keys: Keys) -> None:
    """With the light challenge on, a frame sent before the person could answer its warning must
    not start the light sequence's or the actions' clocks: it is never published nor answered."""
    ingress = Ingress(redis, keys, settings_of(**LIGHT_ON), [stats() for _ in range(2)])
    async with ingress.peer() as peer:
        await peer.send(format_message(Command.CONNECT, {"light": "1"}))
        await peer.send(frame_text(headers={"light": "pending"}))
        connected = await peer.receive()
        assert connected.headers["light"] == "optional"
        assert peer.nothing_more()
        assert ingress.exchanges[connected.headers["session-id"]].frames == []
        # After the answer, frames are taken as ever (no FRAME_IN_FLIGHT left behind by the dropped one).
        assert (await peer.ask(frame_text())).command is Command.STATS
        assert (await peer.ask(frame_text(headers={"light": "declined"}))).command is Command.STATS
        assert ingress.exchanges[connected.headers["session-id"]].frames == [1, 2]


@pytest.mark.anyio
async def test_a_first_frame_of_a_refused_connect_gets_1003_and_pending_is_no_connect_value(
        ingress: Ingress) -> None:
    async with ingress.peer() as peer:
        await peer.send(format_message(Command.CONNECT, {"session-id": str(uuid.uuid4())}))
        await peer.send(frame_text(headers={"light": "pending"}))
        assert error_code(await peer.receive()) == SystemCode.UNKNOWN_SESSION
        assert error_code(await peer.receive()) == SystemCode.NOT_CONNECTED  # what the page ignores
        assert error_code(await peer.connect(light="pending")) == SystemCode.BAD_HEADER
        assert (await peer.connect(light="1")).command is Command.CONNECTED
        assert peer.close_code is None


# ---- refusals that close: load, abuse, idleness -------------------------------------------------

@pytest.mark.anyio
async def test_a_new_session_beyond_capacity_gets_1020_with_retry_after_and_close_1013(ingress: Ingress) -> None:
    ingress.admission = Admission(settings_of(admission={"initial_sessions": 1, "min_sessions": 1}).admission,
                                  backlog=no_backlog)
    async with ingress.peer() as first:
        await first.connect()
        async with ingress.peer() as second:
            refused = await second.connect()
            assert error_code(refused) == SystemCode.OVERLOADED
            assert int(refused.headers["retry-after"]) == ingress.settings.admission.retry_after_s
            assert second.close_code == CloseCode.TRY_AGAIN_LATER


@pytest.mark.anyio
async def test_a_session_that_ended_frees_its_place_before_its_socket_is_gone(redis: Redis, keys: Keys) -> None:
    ingress = Ingress(redis, keys, settings_of(), [stats(end=SessionEnd.MAX_ATTEMPTS)])
    ingress.admission = gate = Admission(
        settings_of(admission={"initial_sessions": 1, "min_sessions": 1}).admission, backlog=no_backlog)
    async with ingress.peer() as first:
        await first.connect()
        assert (await first.ask(frame_text())).command is Command.STATS
        assert await first.closed() == CloseCode.MAX_ATTEMPTS
        # The person starts again at once, while the first socket's clean-up has not run yet.
        async with ingress.peer() as second:
            assert (await second.connect()).command is Command.CONNECTED
            assert gate.open == 1
    assert gate.open == 0


@pytest.mark.anyio
async def test_a_new_session_over_an_abuse_limit_gets_1022_and_close_4007(redis: Redis, keys: Keys) -> None:
    settings = settings_of(abuse={"max_new_sessions_per_minute": 1})
    ingress = Ingress(redis, keys, settings, [], limits=Limits(redis, keys, settings))
    async with ingress.peer() as first:
        assert (await first.connect()).command is Command.CONNECTED
    async with ingress.peer() as second:
        refused = await second.connect()
        assert error_code(refused) == SystemCode.LIMITED
        assert int(refused.headers["retry-after"]) > 0
        assert second.close_code == CloseCode.LIMITED


@pytest.mark.anyio
async def test_an_idle_socket_gets_1021_and_close_4006(ingress: Ingress) -> None:
    now = [100.0]
    async with anyio.create_task_group() as tasks:
        peer = Peer(lambda send, close: Connection(ingress.settings, ingress.sessions, ingress.exchange, send, close,
                                                   clock=lambda: now[0]), tasks)
        tasks.start_soon(peer.connection.watch_idle)
        now[0] += ingress.settings.ingress.connect_timeout_s + 1
        idle = await peer.receive()
        assert error_code(idle) == SystemCode.IDLE
        assert await peer.closed() == CloseCode.IDLE
