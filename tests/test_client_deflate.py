"""LPClient's deflate level (the load generator sends at level 1): permessage-deflate is still
negotiated and a server reads the same message at any level."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.extensions.permessage_deflate import PerMessageDeflate

from infra.redis_server import free_port
from shared.client import LPClient


@pytest.mark.anyio
@pytest.mark.parametrize("level", [None, 1, 9])
async def test_a_message_deflated_at_any_level_arrives_whole(level: int | None) -> None:
    received: asyncio.Queue[str | bytes] = asyncio.Queue()

    async def keep(connection: ServerConnection) -> None:
        received.put_nowait(await connection.recv())

    port = free_port()
    message = base64.b64encode(os.urandom(23_000)).decode()  # a frame's size, as the page sends it
    async with serve(keep, "127.0.0.1", port), LPClient(f"ws://127.0.0.1:{port}/ws", deflate_level=level) as client:
        assert client.ws is not None
        assert [type(e) for e in client.ws.protocol.extensions] == [PerMessageDeflate]
        await client.send_raw(message)
        assert await asyncio.wait_for(received.get(), 5) == message
