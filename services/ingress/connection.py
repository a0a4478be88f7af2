"""One WebSocket connection speaking LPProto: the state machine and its replies.

States: not connected -> connected (CONNECT accepted) -> frame in flight (FRAME published,
waiting for its decision) -> connected ... until SUCCESS or a session-ending reply closes it.
Every violation is answered with ERROR and a documented code; the connection stays usable
unless docs/protocol.md says it closes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import anyio
from anyio.abc import TaskGroup

from services.ingress.admission import Admission
from services.ingress.binding import token_binding
from services.ingress.frames import FrameExchange
from services.ingress.images import CheckedImage, check_frame
from services.ingress.limits import Client, Limits
from services.ingress.replies import (
    CloseCode,
    close_code,
    error_text,
    exception_text,
    refusal_close_code,
    reply_text,
)
from services.ingress.sessions import SessionRegistry
from shared.errors import BusError, BusUnavailable, ProtocolError, RetryLaterError, SystemCode, VigilError
from shared.lpproto import PROTOCOL_VERSION, Command, LPMessage, format_message, parse
from shared.messages import ClientInfo, LightSupport, ReplyKind, SessionOutcome
from shared.metrics import FRAMES_RECEIVED, REDIS_ERRORS, REPLIES_SENT, ROUND_TRIP, WEBSOCKET_CLOSES
from shared.settings import MAX_TIME_SCALE, Settings

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]
Close = Callable[[int, str], Awaitable[None]]
Current = Callable[[], Awaitable[Settings]]  # the ingress's live settings now
CLIENT_COMMANDS = frozenset({Command.CONNECT, Command.FRAME, Command.HEARTBEAT})
MAX_CLIENT_KEY = 200
# FRAME ``light:pending``: sent right behind CONNECT, before the page read CONNECTED, so before the
# person could answer the light challenge's warning (docs/protocol.md, "The first FRAME").
LIGHT_PENDING = "pending"
IDLE_CHECK_S = 1.0  # how often a connection looks at its own idleness: timeouts are whole seconds


class ConnectionClosed(Exception):
    """Raised inside the connection when it has decided to close."""


class Connection:
    def __init__(
        self, settings: Settings, sessions: SessionRegistry, exchange_factory: Callable[[str], FrameExchange],
        send: Send, close: Close, current: Current | None = None, admission: Admission | None = None,
        clock: Callable[[], float] = time.monotonic, limits: Limits | None = None, who: Client | None = None,
    ) -> None:
        self.settings, self.sessions, self.exchange_factory = settings, sessions, exchange_factory
        self._current = current
        self.admission = admission  # None: every session admitted (tests of the protocol alone)
        self.admitted = False
        self._send_raw, self._close = send, close
        self._send_lock = anyio.Lock()
        self.exchange: FrameExchange | None = None
        self.in_flight = False
        self.closed = False
        self.ended = False
        self.last_frame_no = 0
        self.client = ClientInfo()
        self.light_offered = False  # CONNECTED carried `light`: frames marked light:pending are dropped
        self.clock = clock
        self.limits, self.who = limits, who  # None: no abuse limits (tests of the protocol alone)
        self.quiet_since = clock()  # opened, connected or last answered: heartbeats do not count

    async def send(self, text: str) -> None:
        async with self._send_lock:
            if not self.closed:
                await self._send_raw(text)

    async def close(self, code: CloseCode, reason: str = "") -> None:
        async with self._send_lock:
            if not self.closed:
                self.closed = True
                WEBSOCKET_CLOSES.labels(str(int(code))).inc()
                await self._close(int(code), reason)

    def idle(self, now: float) -> str | None:
        """Why this connection is to be closed as idle now, or None. A frame in flight is never idle."""
        limits, quiet = self.settings.ingress, now - self.quiet_since
        if self.closed or self.in_flight:
            return None
        if self.exchange is None and quiet > limits.connect_timeout_s:
            return f"no CONNECT within {limits.connect_timeout_s:g} s"
        if self.exchange is not None and limits.idle_timeout_s is not None and quiet > limits.idle_timeout_s:
            return f"no FRAME within {limits.idle_timeout_s:g} s"
        return None

    async def watch_idle(self) -> None:
        """Closes the connection (ERROR 1021, close 4006) once it is idle; runs beside the receive loop."""
        while not self.closed:
            await anyio.sleep(IDLE_CHECK_S)
            reason = self.idle(self.clock())
            if reason is not None:
                await self.send(error_text(SystemCode.IDLE, reason))
                await self.close(CloseCode.IDLE, "idle")

    async def on_message(self, data: str | bytes, tasks: TaskGroup) -> None:
        if isinstance(data, bytes):
            await self.send(error_text(SystemCode.MALFORMED_MESSAGE, "LPProto messages are text"))
            await self.close(CloseCode.NOT_TEXT, "binary message")
            return
        if len(data) > self.settings.ingress.max_message_bytes:
            await self.send(error_text(SystemCode.MESSAGE_TOO_LARGE))
            await self.close(CloseCode.MESSAGE_TOO_BIG, "message too big")
            return
        try:
            message = parse(data, max_header_bytes=self.settings.ingress.max_header_bytes)
            await self._dispatch(message, tasks)
        # Redis's failures before the other VigilErrors: answered by their code alone, since
        # redis-py's words (hosts, ports) are for the log, not the page.
        except BusUnavailable as exc:
            log.warning("bus unavailable: %s", exc)
            REDIS_ERRORS.labels("ingress").inc()
            await self.send(error_text(SystemCode.BUS_UNAVAILABLE))
        except BusError:
            raise  # Redis refused a command: a bug, not a client's mistake
        except RetryLaterError as exc:
            await self.send(exception_text(exc))
            await self.close(refusal_close_code(exc), exc.code.name.lower())
        except VigilError as exc:
            await self.send(exception_text(exc))

    async def _dispatch(self, message: LPMessage, tasks: TaskGroup) -> None:
        if message.command not in CLIENT_COMMANDS:
            raise ProtocolError(f"{message.command} is not a client command", code=SystemCode.UNKNOWN_COMMAND)
        if message.command is Command.HEARTBEAT:
            return  # a client keep-alive needs no answer
        if message.command is Command.CONNECT:
            await self._connect(message, tasks)
            return
        if self.exchange is None:
            raise ProtocolError("FRAME before CONNECT", code=SystemCode.NOT_CONNECTED)
        if self.light_offered and light_pending(message.headers):
            # The page shows the light warning first and knows from CONNECTED that this frame goes
            # unanswered: published, it would start the light sequence's and the actions' clocks
            # before the person said yes.
            log.debug("a light:pending FRAME before the light warning's answer: dropped")
            return
        if self.in_flight:
            raise ProtocolError("FRAME before the previous reply", code=SystemCode.FRAME_IN_FLIGHT)
        image = check_frame(message.headers.get("content-type"), message.body, self.settings.ingress)
        client = self.client.model_copy(update=frame_client(message.headers, self.client))
        self.in_flight = True
        FRAMES_RECEIVED.inc()
        tasks.start_soon(self._frame, self.exchange, image, client)

    async def _connect(self, message: LPMessage, tasks: TaskGroup) -> None:
        if self.exchange is not None:
            raise ProtocolError("already connected", code=SystemCode.ALREADY_CONNECTED)
        version = message.headers.get("version", PROTOCOL_VERSION)
        if version.split(".")[0] != PROTOCOL_VERSION.split(".")[0]:
            raise ProtocolError(f"version {version} not supported", code=SystemCode.UNSUPPORTED_VERSION)
        heartbeat_ms = self._heartbeat(message.headers.get("heartbeat"))
        client = client_info(message.headers)  # a bad header is refused before a session opens
        requested = message.headers.get("session-id") or None
        if self.who is not None:
            self.who = replace(self.who, device=client_key(message.headers, "device-id"),
                               user=client_key(message.headers, "user-key"))
            if requested is None and self.limits is not None:
                await self.limits.admit(self.who)  # raises LimitedError: abuse limits, new sessions only
        if requested is None and self.admission is not None:
            self.admission.admit()  # raises OverloadedError: only new sessions are refused for load
        try:
            session_id = await self.sessions.open(requested, token_binding(message.headers))
        except BaseException:
            if requested is None and self.admission is not None:
                self.admission.left()
            raise
        if requested is not None and self.admission is not None:
            self.admission.resumed()
        self.admitted = self.admission is not None
        if self.limits is not None and self.who is not None:
            await self.limits.opened(self.who, session_id)
        self.client = client
        exchange = self.exchange_factory(session_id)
        await exchange.start()
        self.exchange = exchange
        self.quiet_since = self.clock()
        headers = {"session-id": session_id, "version": PROTOCOL_VERSION}
        light = (await self._current() if self._current else self.settings).light_challenge
        if light.is_enabled:  # the page asks for consent before the first frame (docs/protocol.md)
            headers["light"] = "optional" if light.allow_decline else "required"
        self.light_offered = light.is_enabled
        await self.send(format_message(Command.CONNECTED, headers))
        if heartbeat_ms:
            tasks.start_soon(self._heartbeats, heartbeat_ms)

    def _heartbeat(self, value: str | None) -> int:
        if value is None or value.strip() in ("", "0"):
            return 0
        limits = self.settings.ingress
        try:
            period = int(value)
        except ValueError:
            raise ProtocolError("heartbeat is not an integer (ms)", code=SystemCode.BAD_HEADER) from None
        if not limits.min_heartbeat_ms <= period <= limits.max_heartbeat_ms:
            raise ProtocolError(
                f"heartbeat must be 0 or {limits.min_heartbeat_ms}-{limits.max_heartbeat_ms} ms",
                code=SystemCode.BAD_HEADER,
            )
        return period

    async def _heartbeats(self, period_ms: int) -> None:
        while not self.closed:
            await anyio.sleep(period_ms / 1000)
            await self.send(format_message(Command.HEARTBEAT))

    async def _frame(self, exchange: FrameExchange, image: CheckedImage, client: ClientInfo) -> None:
        began = time.monotonic()
        try:
            frame_no = await self.sessions.next_frame_no(exchange.session_id)
            self.last_frame_no = frame_no
            reply = await exchange.submit(image, frame_no, client)
        except BusUnavailable as exc:  # before VigilError, as in ``on_message``
            log.warning("bus unavailable for session %s: %s", exchange.session_id, exc)
            REDIS_ERRORS.labels("ingress").inc()
            await self.send(error_text(SystemCode.BUS_UNAVAILABLE))
            replied(ReplyKind.ERROR, began)
            return
        except BusError:
            raise
        except VigilError as exc:
            await self.send(exception_text(exc))
            replied(ReplyKind.ERROR, began)
            return
        finally:
            self.in_flight = False
            self.quiet_since = self.clock()
        await self.send(reply_text(reply))
        replied(reply.kind, began)
        if self.admission is not None:
            self.admission.observe((time.monotonic() - began) * 1000.0)
        if reply.end is not None:
            self.ended = True
            # The session's place is free once its last reply is out: the person may start again
            # at once, before this socket's close handshake and clean-up are over.
            self._release_admission()
            outcome = SessionOutcome.SUCCESS if reply.kind is ReplyKind.SUCCESS else SessionOutcome.FAILED
            await self.sessions.end(exchange.session_id, outcome, reply.frame_no, reply.jwt_id)
            if outcome is SessionOutcome.FAILED and self.limits is not None and self.who is not None:
                await self.limits.failed(self.who, exchange.session_id)
            await self.close(close_code(reply.end), reply.end.value)

    async def finish(self) -> None:
        """After the socket is gone: announce a drop, so the session's video can be scheduled."""
        self._release_admission()
        if not self.closed:  # the peer closed it (or the network did)
            self.closed = True
            WEBSOCKET_CLOSES.labels("client").inc()
        if self.exchange is None:
            return
        try:
            if not self.ended:
                await self.sessions.end(self.exchange.session_id, SessionOutcome.DISCONNECTED, self.last_frame_no)
            if self.limits is not None and self.who is not None:
                await self.limits.closed(self.who, self.exchange.session_id)
        except BusUnavailable as exc:
            log.warning("could not record the end of session %s: %s", self.exchange.session_id, exc)

    def _release_admission(self) -> None:
        if self.admitted and self.admission is not None:
            self.admitted = False
            self.admission.left()


def replied(kind: ReplyKind, began: float) -> None:
    REPLIES_SENT.labels(kind.value).inc()
    ROUND_TRIP.labels(kind.value).observe(time.monotonic() - began)


def client_key(headers: dict[str, str], name: str) -> str | None:
    """``device-id`` or ``user-key`` from CONNECT: any text up to MAX_CLIENT_KEY characters (it is
    only ever stored hashed); absent or empty: none."""
    value = headers.get(name, "").strip()
    if len(value) > MAX_CLIENT_KEY:
        raise ProtocolError(f"{name} over {MAX_CLIENT_KEY} characters", code=SystemCode.BAD_HEADER)
    return value or None


def client_info(headers: dict[str, str]) -> ClientInfo:
    """The camera description a page sends with CONNECT (optional headers, bounded in size)."""
    return ClientInfo(
        camera_label=headers.get("camera-label", "")[:200] or None,
        camera_settings=headers.get("camera-settings", "")[:2000] or None,
        user_agent=headers.get("user-agent", "")[:300] or None,
        mirrored=headers.get("mirrored", "0").strip().lower() in ("1", "true", "yes"),
        light=light_support(headers.get("light")),
        time_scale=time_scale(headers.get("time-scale")),
    )


def time_scale(value: str | None) -> float:
    """CONNECT's ``time-scale``: how much more time the person asks for (1 to MAX_TIME_SCALE)."""
    if value is None or not value.strip():
        return 1.0
    try:
        scale = float(value)
    except ValueError:
        raise ProtocolError("time-scale is not a number", code=SystemCode.BAD_HEADER) from None
    if not 1.0 <= scale <= MAX_TIME_SCALE:  # NaN fails both comparisons
        raise ProtocolError(f"time-scale must be 1-{MAX_TIME_SCALE:g}", code=SystemCode.BAD_HEADER)
    return scale


def frame_client(headers: dict[str, str], connected: ClientInfo) -> dict[str, object]:
    """What a FRAME adds to the CONNECT description: its capture time and light tags."""
    update: dict[str, object] = {
        "frame_time_ms": milliseconds(headers.get("frame-time"), "frame-time"),
        "light_painted_ms": milliseconds(headers.get("light-painted"), "light-painted"),
        "light_step": step_number(headers.get("light-step")),
    }
    # A decline after CONNECT sticks for the frame; the light plugin remembers it for the session.
    # ``pending`` reaches here only where no light was offered: an ordinary frame then.
    light = None if light_pending(headers) else headers.get("light")
    if light_support(light) is LightSupport.DECLINED:
        update["light"] = LightSupport.DECLINED
    elif connected.light is None and update["light_step"] is not None:
        raise ProtocolError("light-step without light:1 in CONNECT", code=SystemCode.BAD_HEADER)
    return update


def light_pending(headers: dict[str, str]) -> bool:
    """A FRAME sent before the page could ask the light warning (``light:pending``)."""
    return headers.get("light", "").strip().lower() == LIGHT_PENDING


def light_support(value: str | None) -> LightSupport | None:
    if value is None or not value.strip():
        return None
    try:
        return LightSupport(value.strip().lower())
    except ValueError:
        raise ProtocolError("light must be 1 or declined", code=SystemCode.BAD_HEADER) from None


def step_number(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit() or len(value.strip()) > 4:
        raise ProtocolError("light-step is not a step number", code=SystemCode.BAD_HEADER)
    return int(value)


def milliseconds(value: str | None, name: str) -> float | None:
    try:
        number = float(value) if value else None
    except ValueError:
        raise ProtocolError(f"{name} is not a number (ms)", code=SystemCode.BAD_HEADER) from None
    if number is not None and not math.isfinite(number):
        raise ProtocolError(f"{name} is not a finite number (ms)", code=SystemCode.BAD_HEADER)
    return number
