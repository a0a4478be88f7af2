"""The Quart application: health, the LPProto WebSocket, the check page (rendered with its UI
config, check settings and messages inlined: page_data.py) with its static files, gzipped for a
client that takes it (compression.py), and the page's JSON (its UI config by name, the ROI for the
oval guide), which a page served without its data block fetches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import anyio
from quart import Quart, Response, jsonify, request, websocket
from redis.asyncio import Redis

from services.ingress.admission import Admission
from services.ingress.compression import compress
from services.ingress.connection import Connection
from services.ingress.frames import FrameExchange
from services.ingress.limits import Client, Limits
from services.ingress.page_data import PageTemplate, check_settings, pick_language
from services.ingress.page_headers import page_headers
from services.ingress.replies import exception_text, refusal_close_code
from services.ingress.results import results_blueprint
from services.ingress.sessions import SessionRegistry
from services.ingress.ui_configs import UiConfigStore, UnknownUiConfig
from shared.bus import backlog, ping
from shared.client_address import client_address
from shared.errors import BusUnavailable, ConfigError, OverloadedError
from shared.keys import Group, Keys
from shared.live_settings import LiveSettings
from shared.retention import StreamRetention
from shared.settings import Settings
from shared.ui_config import DEFAULT_NAME, UiConfig

log = logging.getLogger(__name__)
REVIEW_EVERY_S = 0.5  # the admission acts every half window; this only bounds how late
STATIC = Path(__file__).parent / "static"
STATIC_URL = "/static"
PAGE_URL = "/"
HTML = "text/html; charset=utf-8"
# The page runs only its own modules; config styles arrive as CSS text (a <style> element).
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'"
)


def create_app(settings: Settings, redis: Redis, live: LiveSettings | None = None) -> Quart:
    """``live``: the ingress's live settings, followed by the caller (services/ingress/main.py);
    None builds an unfollowed one (tests), which still reads the stored overrides once per tag."""
    app = Quart(__name__, static_folder=str(STATIC), static_url_path=STATIC_URL)
    keys = Keys(settings.redis.key_prefix)
    current = live or LiveSettings(redis, keys, settings)
    sessions = SessionRegistry(redis, keys, settings.session.ttl_s, settings.bus.stream_maxlen)
    ui_configs = UiConfigStore(redis, keys)
    app.register_blueprint(results_blueprint(settings, redis, keys))
    retention = StreamRetention(settings.bus)  # the frames stream's size bound learns from every frame
    admission = Admission(settings.admission, lambda: backlog(redis, keys.frames, Group.ESTIMATOR))
    app.extensions["admission"] = admission  # for tests and the health answer

    async def review_admission() -> None:
        while True:
            try:
                await admission.review()
            except BusUnavailable as exc:  # the frames' own path reports the outage
                log.debug("admission review without the backlog: %s", exc)
            await asyncio.sleep(REVIEW_EVERY_S)

    @app.before_serving
    async def start_review() -> None:
        app.extensions["admission-review"] = asyncio.create_task(review_admission())

    @app.after_serving
    async def stop_review() -> None:
        task = app.extensions.pop("admission-review", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @app.get("/health")
    async def health() -> tuple[Response, int]:
        try:
            await ping(redis)
        except BusUnavailable as exc:
            return jsonify({"status": "degraded", "redis": str(exc)}), 503
        limit = round(admission.limit) if admission.settings.is_enabled else None  # null: admission off
        return jsonify({"status": "ok", "redis": "ok", "sessions_open": admission.open,
                        "sessions_limit": limit, "frames_backlog": admission.last_backlog}), 200

    @app.after_request
    async def library_cors(response: Response) -> Response:
        # Another site's page may import vigil.js (docs/integration.md): modules and the messages
        # they fetch load in CORS mode. Public files, no credentials: any origin.
        if request.path.startswith(f"{STATIC_URL}/"):
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    @app.after_request
    async def compressed(response: Response) -> Response:
        # The page and its files only: public text, no secret whose size compression could leak (BREACH).
        if request.path == PAGE_URL or request.path.startswith(f"{STATIC_URL}/"):
            return await compress(response, request.headers.get("Accept-Encoding"))
        return response

    page = PageTemplate(STATIC)

    @app.get(PAGE_URL)
    async def index() -> Response:
        lang = pick_language(request.args.get("lang"), request.headers.get("Accept-Language"))
        name = request.args.get("cn") or DEFAULT_NAME
        config: UiConfig | None = None
        try:
            config = await ui_configs.get(name)
        except (UnknownUiConfig, ConfigError) as exc:  # the page's own fetch reports it, as documented
            log.debug("UI config %r not inlined: %s", name[:80], exc)
        except BusUnavailable as exc:
            log.warning("UI config %r not inlined: %s", name[:80], exc)
        response = Response(page.render(lang, check_settings(settings), config), content_type=HTML)
        response.headers.update(page_headers(PAGE_POLICY, settings.ingress.frame_ancestors))  # who may frame it
        response.headers["Cache-Control"] = "no-cache"
        response.vary.add("Accept-Language")  # the language may come from it
        await response.add_etag()  # unchanged config and messages: a 304, as the static file had
        return await response.make_conditional(request)

    @app.get("/api/ui-config/<name>")
    async def ui_config(name: str) -> tuple[Response, int]:
        try:
            config = await ui_configs.get(name)
        except UnknownUiConfig as exc:
            return jsonify({"error": "unknown_ui_config", "name": name[:80], "message": str(exc)}), 404
        except ConfigError as exc:
            log.error("%s", exc)
            return jsonify({"error": "invalid_ui_config", "name": name, "message": str(exc)}), 500
        except BusUnavailable as exc:
            log.warning("UI config %r unavailable: %s", name, exc)
            return jsonify({"error": "unavailable", "name": name, "message": "the config store is unreachable"}), 503
        return jsonify(config.model_dump(mode="json")), 200

    @app.get("/api/check-settings")
    async def check_settings_json() -> Response:
        return jsonify(check_settings(settings))

    sockets = SocketCount()
    limits, trusted = Limits(redis, keys, settings), settings.proxy.networks()

    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.accept()
        if sockets.open >= settings.ingress.max_connections:
            full = OverloadedError(f"{sockets.open} connections open, limit {settings.ingress.max_connections}",
                                   retry_after_s=settings.admission.retry_after_s)
            await websocket.send(exception_text(full))
            await websocket.close(int(refusal_close_code(full)), "too many connections")
            return
        sockets.open += 1
        tasks = anyio.create_task_group()

        async def send(text: str) -> None:
            await websocket.send(text)

        async def close(code: int, reason: str) -> None:
            await websocket.close(code, reason)
            tasks.cancel_scope.cancel()  # stops the receive loop and any heartbeat

        def exchange(session_id: str) -> FrameExchange:
            return FrameExchange(redis, keys, settings, session_id, retention)

        who = Client(client_address(websocket.remote_addr, websocket.headers.getlist("X-Forwarded-For"), trusted))
        connection = Connection(settings, sessions, exchange, send, close, lambda: current.for_tag(None), admission,
                                limits=limits, who=who)
        try:
            async with tasks:
                tasks.start_soon(connection.watch_idle)
                while True:
                    await connection.on_message(await websocket.receive(), tasks)
        finally:
            sockets.open -= 1
            # Runs on a client disconnect too (the handler is cancelled): shield the bookkeeping.
            with anyio.CancelScope(shield=True):
                await connection.finish()

    return app


class SocketCount:
    """Open WebSockets of this ingress (ingress.max_connections); one event loop, so a plain int."""

    def __init__(self) -> None:
        self.open = 0
