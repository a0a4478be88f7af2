"""The Quart application: health, the LPProto WebSocket, and the page's static files."""

from __future__ import annotations

import logging
from pathlib import Path

import anyio
from quart import Quart, Response, jsonify, websocket
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from services.ingress.connection import Connection
from services.ingress.frames import FrameExchange
from services.ingress.sessions import SessionRegistry
from shared.keys import Keys
from shared.settings import Settings

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings, redis: Redis) -> Quart:
    app = Quart(__name__, static_folder=str(STATIC), static_url_path="/static")
    keys = Keys(settings.redis.key_prefix)
    sessions = SessionRegistry(redis, keys, settings.session.ttl_s, settings.bus.stream_maxlen)

    @app.get("/health")
    async def health() -> tuple[Response, int]:
        try:
            await redis.ping()  # type: ignore[misc]
        except (RedisConnectionError, OSError) as exc:
            return jsonify({"status": "degraded", "redis": str(exc)}), 503
        return jsonify({"status": "ok", "redis": "ok"}), 200

    @app.get("/")
    async def index() -> Response:
        return await app.send_static_file("index.html")

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        tasks = anyio.create_task_group()

        async def send(text: str) -> None:
            await websocket.send(text)

        async def close(code: int, reason: str) -> None:
            await websocket.close(code, reason)
            tasks.cancel_scope.cancel()  # stops the receive loop and any heartbeat

        connection = Connection(
            settings, sessions, lambda session_id: FrameExchange(redis, keys, settings, session_id), send, close,
        )
        try:
            async with tasks:
                while True:
                    await connection.on_message(await websocket.receive(), tasks)
        finally:
            # Runs on a client disconnect too (the handler is cancelled): shield the bookkeeping.
            with anyio.CancelScope(shield=True):
                await connection.finish()

    return app
