"""A Python LPProto client: CONNECT, then one FRAME at a time, waiting for each reply as the
protocol requires. The CLI, the tests and the load generator use it; integrators that send frames
from their own program get it from ``shared.api`` (docs/protocol.md is the protocol it speaks)."""

from __future__ import annotations

import base64
import json
import ssl as ssl_module
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from shared.lpproto import Command, LPMessage, format_message, parse

CONTENT_TYPES = {"jpeg": "image/x-jpeg-base64", "png": "image/x-png-base64"}


@dataclass(frozen=True)
class Reply:
    message: LPMessage

    @property
    def command(self) -> Command:
        return self.message.command

    @property
    def error_code(self) -> int | None:
        value = self.message.headers.get("error")
        return int(value) if value is not None else None

    def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.message.body)
        return body


class LPClient:
    def __init__(self, url: str, *, open_timeout: float = 10.0, max_size: int = 16 * 1024 * 1024,
                 ssl: ssl_module.SSLContext | None = None, deflate_level: int | None = None) -> None:
        """``ssl``: for ``wss://`` with a certificate the system does not trust (a self-signed one).
        ``deflate_level``: the zlib level of permessage-deflate for what this client sends (None:
        websockets' default, 6, as browsers use); the server inflates any level the same way."""
        self.url, self.open_timeout, self.max_size, self.ssl = url, open_timeout, max_size, ssl
        self.deflate_level = deflate_level
        self.ws: ClientConnection | None = None
        self.session_id: str | None = None
        self.heartbeats = 0

    async def __aenter__(self) -> LPClient:
        options: dict[str, Any] = {"open_timeout": self.open_timeout, "max_size": self.max_size}
        if self.ssl is not None:  # else websockets picks the system's trust store for wss:// itself
            options["ssl"] = self.ssl
        if self.deflate_level is not None:
            # websockets' own factory settings, with only the level changed.
            options["extensions"] = [ClientPerMessageDeflateFactory(
                client_max_window_bits=True, compress_settings={"memLevel": 5, "level": self.deflate_level})]
        self.ws = await connect(self.url, **options)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def send_raw(self, text: str | bytes) -> None:
        assert self.ws is not None, "use `async with LPClient(...)`"
        await self.ws.send(text)

    async def receive(self) -> Reply:
        """The next reply that is not a HEARTBEAT."""
        assert self.ws is not None
        while True:
            data = await self.ws.recv()
            message = parse(data if isinstance(data, str) else data.decode(), max_header_bytes=1 << 16)
            if message.command is Command.HEARTBEAT:
                self.heartbeats += 1
                continue
            return Reply(message)

    async def connect(self, *, session_id: str | None = None, heartbeat_ms: int = 0,
                      extra: dict[str, str] | None = None) -> Reply:
        """``extra``: more CONNECT headers (``nonce``, ``ui-config``, ``light:1`` for a client that paints the
        light challenge, the camera description)."""
        headers = {"version": "1.0", "heartbeat": str(heartbeat_ms), **(extra or {})}
        if session_id:
            headers["session-id"] = session_id
        await self.send_raw(format_message(Command.CONNECT, headers))
        reply = await self.receive()
        if reply.command is Command.CONNECTED:
            self.session_id = reply.message.headers["session-id"]
        return reply

    async def frame(self, image: bytes, *, kind: str = "jpeg", extra: dict[str, str] | None = None) -> Reply:
        """``extra``: more FRAME headers (``frame-time``, ``light-step``, ...)."""
        body = base64.b64encode(image).decode()
        headers = {"content-type": CONTENT_TYPES[kind], **(extra or {})}
        await self.send_raw(format_message(Command.FRAME, headers, body))
        return await self.receive()
