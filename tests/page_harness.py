"""The check page in Chromium without the Vigil services: its files and JSON served as the ingress
serves them (same headers, same CSP), and an LPProto stand-in on the same loopback port whose
replies each test scripts (a prompt, an action, the light offer, success, a session's end).

One ``websockets`` server answers both: plain HTTP GETs through ``process_request``, the
WebSocket on ``/ws``. Being a real socket, Chromium's network emulation applies to it as it would
to the ingress (tests/test_page_phones.py throttles it to Fast 3G). The browser is Debian's
Chromium with the fake camera (Chromium's own test pattern; tests/test_browser.py feeds real
video to the real services).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from services.ingress.app import PAGE_POLICY, PAGE_URL, STATIC_URL
from services.ingress.compression import GZIP, encoded
from services.ingress.connection import light_pending
from services.ingress.page_data import PageTemplate, pick_language
from services.ingress.page_headers import SELF, page_headers
from shared.ui_config import DEFAULT_CONFIG, DEFAULT_NAME, UiConfig
from tests.stack import ROOT
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, require_browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

STATIC = ROOT / "services" / "ingress" / "static"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ROI = {"center_x": 0.5, "center_y": 0.5, "width": 1.0, "height": 1.0}
CHECK_SETTINGS = {"roi": ROI, "faceWidth": 0.2, "faceHeight": 0.2}  # GET /api/check-settings
PAGE = PageTemplate(STATIC)
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".json": "application/json", ".html": "text/html; charset=utf-8"}
# A reply to a FRAME: the LPProto text to send, or an int: close the socket with that code.
Reply = str | int


def stats(codes: list[int], *, done: int | None = None, total: int | None = None,
          light: dict[str, object] | None = None) -> str:
    estimations: dict[str, object] = {}
    if total is not None:
        estimations["activeLiveness"] = {"done": done or 0, "total": total}
    if light is not None:
        estimations["lightChallenge"] = light
    body = json.dumps({"isOk": not codes, "errors": codes, "estimations": estimations})
    return f"STATS\ncontent-type:application/json\n\n{body}"


def success(jwt: str = "header.payload.signature") -> str:
    return f"SUCCESS\ncontent-type:application/jwt\n\n{jwt}"


def error(code: int) -> str:
    return f"ERROR\nerror:{code}\n\n"


@dataclass
class Received:
    at: float  # time.monotonic() when the message arrived
    text: str


@dataclass
class FakeVigil:
    """The page's routes and an LPProto stand-in. ``replies(frame_number)`` answers each FRAME of
    a connection; ``light`` is CONNECTED's light offer (None: no light challenge)."""

    configs: dict[str, UiConfig] = field(default_factory=lambda: {DEFAULT_CONFIG.name: DEFAULT_CONFIG})
    replies: Callable[[int], list[Reply]] = lambda _: [stats([1])]
    light: str | None = None
    reply_delay_s: float = 0.0  # each WebSocket reply leaves this long after its message came (latency)
    received: list[Received] = field(default_factory=list)
    sessions: list[str] = field(default_factory=list)  # CONNECTED's session ids, in order
    port: int = 0
    _open: set[ServerConnection] = field(default_factory=set)
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def messages(self, command: str) -> list[Received]:
        return [m for m in self.received if m.text.startswith(command + "\n")]

    # ---- HTTP -------------------------------------------------------------------------------

    def _file(self, path: Path, headers: dict[str, str] | None = None) -> Response:
        body = path.read_bytes()
        kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return self._response(HTTPStatus.OK, body, kind, headers)

    @staticmethod
    def _response(status: HTTPStatus, body: bytes, kind: str, extra: dict[str, str] | None = None) -> Response:
        headers = Headers({"Content-Type": kind, "Content-Length": str(len(body)), "Cache-Control": "no-cache",
                           **(extra or {})})
        return Response(status.value, status.phrase, headers, body)

    def _json(self, status: HTTPStatus, value: object) -> Response:
        return self._response(status, json.dumps(value).encode(), "application/json")

    def _page(self, request: Request) -> Response:
        """The check page as the ingress renders it: config, settings and messages inlined."""
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.path).query)
        lang = pick_language(query.get("lang", [None])[0], request.headers.get("Accept-Language"))
        config = self.configs.get(query.get("cn", [DEFAULT_NAME])[0])
        body = PAGE.render(lang, CHECK_SETTINGS, config).encode()
        return self._response(HTTPStatus.OK, body, TYPES[".html"],
                              {**page_headers(PAGE_POLICY, [SELF]), "Vary": "Accept-Language"})

    @staticmethod
    def _gzipped(response: Response, request: Request) -> Response:
        """As app.py's ``compressed``: the page and its files gzipped for a client that takes it."""
        body = encoded(response.headers.get("Content-Type"), response.body, request.headers.get("Accept-Encoding"))
        if body is None:
            return response
        headers = Headers(response.headers)
        del headers["Content-Length"]  # Headers keeps every value set: the old length goes first
        headers["Content-Length"], headers["Content-Encoding"] = str(len(body)), GZIP
        return Response(response.status_code, response.reason_phrase, headers, body)

    def _route(self, _: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            return None  # the WebSocket handshake goes on
        if path == PAGE_URL:
            return self._gzipped(self._page(request), request)
        if path.startswith(f"{STATIC_URL}/"):
            file = (STATIC / path.removeprefix(f"{STATIC_URL}/")).resolve()
            if file.is_relative_to(STATIC) and file.is_file():
                # Access-Control-Allow-Origin: as app.py's library_cors.
                return self._gzipped(self._file(file, {"Access-Control-Allow-Origin": "*"}), request)
        if path == "/__tools/axe.min.js":  # same origin: the page's CSP lets it run, unchanged
            return self._file(AXE)
        if path.startswith("/api/ui-config/"):
            config = self.configs.get(path.removeprefix("/api/ui-config/"))
            if config is None:
                return self._json(HTTPStatus.NOT_FOUND, {"error": "unknown_ui_config", "message": "no such config"})
            return self._json(HTTPStatus.OK, config.model_dump(mode="json"))
        if path == "/api/check-settings":
            return self._json(HTTPStatus.OK, CHECK_SETTINGS)
        return self._response(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

    # ---- LPProto ----------------------------------------------------------------------------

    def drop(self, code: int, *, error_code: int | None = None) -> None:
        """Close every open socket with ``code`` (after ``ERROR error_code``), as the ingress does
        on its idle timeout (1021, then 4006)."""
        async def close_all() -> None:
            for socket in list(self._open):
                if error_code is not None:
                    await socket.send(error(error_code))
                await socket.close(code, "dropped")

        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(close_all(), self._loop).result(10)

    async def _socket(self, socket: ServerConnection) -> None:
        frames = 0
        offered = False  # CONNECTED carried `light`: a light:pending FRAME is dropped, as the ingress does
        outbox: asyncio.Queue[tuple[float, Reply]] = asyncio.Queue()
        sender = asyncio.create_task(self._send_replies(socket, outbox))
        self._open.add(socket)
        try:
            async for message in socket:
                text = message if isinstance(message, str) else message.decode()
                self.received.append(Received(time.monotonic(), text))
                headers = dict(line.split(":", 1) for line in text.split("\n\n", 1)[0].split("\n")[1:])
                replies: list[Reply] = []
                if text.startswith("CONNECT\n"):
                    session = headers.get("session-id") or str(uuid.uuid4())
                    self.sessions.append(session)
                    offered = bool(self.light and headers.get("light") == "1")
                    light = f"light:{self.light}\n" if offered else ""
                    replies = [f"CONNECTED\nsession-id:{session}\nversion:1.0\n{light}\n"]
                elif text.startswith("FRAME\n") and not (offered and light_pending(headers)):
                    frames += 1
                    replies = self.replies(frames)
                due = time.monotonic() + self.reply_delay_s
                for reply in replies:
                    outbox.put_nowait((due, reply))
        except ConnectionClosed:
            return
        finally:
            sender.cancel()
            self._open.discard(socket)

    @staticmethod
    async def _send_replies(socket: ServerConnection, outbox: asyncio.Queue[tuple[float, Reply]]) -> None:
        """Each reply, in order, once ``reply_delay_s`` passed since its message came: the latency
        of a network, not a stall of the service, which reads the next message meanwhile (a FRAME
        right behind CONNECT arrives while CONNECTED is on its way, as at the ingress)."""
        try:
            while True:
                due, reply = await outbox.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if isinstance(reply, int):
                    await socket.close(reply, "scripted")
                    return
                await socket.send(reply)
        except ConnectionClosed:
            return

    def start(self) -> None:
        ready = threading.Event()

        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with serve(self._socket, "127.0.0.1", 0, process_request=self._route, compression=None) as server:
                self.port = next(iter(server.sockets)).getsockname()[1]
                ready.set()
                await self._stop.wait()

        threading.Thread(target=asyncio.run, args=(run(),), daemon=True).start()
        assert ready.wait(10), "the page server did not start"

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)


@contextlib.contextmanager
def running_vigil() -> Iterator[FakeVigil]:
    service = FakeVigil()
    service.start()
    try:
        yield service
    finally:
        service.stop()


# The page tests' two fixtures, defined once: a module imports them (by these names; pytest knows
# them as ``chromium`` and ``vigil``) with the rest of the harness, which also marks it e2e.
@pytest.fixture(scope="module", name="chromium")
def chromium_fixture() -> Iterator[Chromium]:
    """One Chromium for the module; each test opens its own context (camera allowed or not)."""
    with launched_chromium() as browser:
        yield browser


@pytest.fixture(name="vigil")
def vigil_fixture() -> Iterator[FakeVigil]:
    """A fresh stand-in per test: each test scripts its replies."""
    with running_vigil() as service:
        yield service


@dataclass
class Chromium:
    browser: Browser
    devices: dict[str, dict[str, Any]]  # Playwright's device descriptors ("Moto G4", "iPhone 13 landscape")
    driver: Playwright

    def launch(self, camera: Path | None = None) -> Browser:
        """Another Chromium from the same driver (one driver per thread), e.g. with another camera."""
        return launch(self.driver, camera)


def launch(driver: Playwright, camera: Path | None = None) -> Browser:
    """Debian's Chromium with the fake camera: Chromium's test pattern, or ``camera`` (a .y4m file)."""
    flags = [*CHROMIUM_FLAGS, "--use-fake-device-for-media-stream"]
    if camera is not None:
        flags.append(f"--use-file-for-fake-video-capture={camera}")
    return driver.chromium.launch(executable_path=str(CHROMIUM), args=flags, headless=True)


@contextlib.contextmanager
def launched_chromium() -> Iterator[Chromium]:
    """One Chromium; each test opens its own context (camera allowed or not)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = launch(driver)
        try:
            yield Chromium(browser, dict(driver.devices), driver)
        finally:
            browser.close()


def open_context(browser: Browser, *, camera: bool = True, **options: Any) -> BrowserContext:
    options.pop("default_browser_type", None)
    context = browser.new_context(**{"viewport": {"width": 720, "height": 860}, "locale": "en-US", **options})
    if camera:
        context.grant_permissions(["camera"])
    return context


@dataclass
class Opened:
    page: Page
    errors: list[str]

    def wait_state(self, state: str, timeout_s: float = 15) -> None:
        # Selectors, not wait_for_function: the page's CSP forbids the eval that one needs.
        self.page.wait_for_selector(f'body[data-state="{state}"]', state="attached", timeout=timeout_s * 1000)


def open_page(context: BrowserContext, service: FakeVigil, query: str = "") -> Opened:
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{service.url}/{query}")
    return Opened(page, errors)


def ready(opened: Opened) -> Opened:
    """The page once its Start button is enabled (its config and messages loaded)."""
    opened.page.wait_for_selector("#start:enabled", timeout=15_000)
    return opened


def require_axe() -> None:
    """axe-core comes from `make node` (npm ci; package-lock.json pins it): never a CDN at test time."""
    if not AXE.is_file():
        raise AssertionError(f"{AXE} is missing: run `make node` (npm ci)")


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """axe-core's violations of the given impacts on the page as it is now (WCAG 2.x A and AA rules
    and axe's best practices)."""
    require_axe()
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(url="/__tools/axe.min.js")
    result: dict[str, Any] = page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"],
         "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"] if v["impact"] in impacts
    ]
