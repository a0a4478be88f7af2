"""What the browser light tests share (tests/test_browser_light.py against a scripted service,
tests/test_browser_light_stack.py against the real services): the scripted LPProto service, which
also serves the page's files with the ingress's CSP; the instrumentation recorded inside the page
and the assertions made on it; Chromium. Each test module's fixtures (``fake``, ``playwright``,
``browser``) are one line over the generators here: a fixture imported by name would shadow it.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from services.ingress.app import PAGE_POLICY, STATIC
from services.ingress.connection import light_pending
from shared.errors import FrameCheck
from shared.light import FLASH_DARKER_BELOW, FLASH_DELTA, MAX_CHANGES_PER_S, WINDOW_MS, is_saturated_red
from shared.light import relative_luminance as luminance
from shared.lpproto import Command, format_message, parse
from shared.ui_config import DEFAULT_CONFIG
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, Session, require_browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

SETTLE_MS = 60  # the library's lightSettleMs default: a tagged frame was captured this long after the paint
MAX_PAINT_LATENCY_MS = 50  # a step is on screen within ~2 animation frames (60 Hz) of its STATS
FRAME_MS = 1000 / 60
WHITE, YELLOW, CYAN, BLUE, MAGENTA, GREEN = "#ffffff", "#ffff00", "#00ffff", "#0000ff", "#ff00ff", "#00ff00"

Challenge = Callable[[float, int], "dict[str, Any] | None"]  # (s since the first FRAME, FRAMEs so far) -> step


def no_light(elapsed: float, frames: int) -> dict[str, Any] | None:
    return None


# ---- a scripted LPProto service --------------------------------------------------------------

@dataclass
class Script:
    """What the scripted service answers, and what it received. ``challenge`` may be replaced
    while a session runs: each reply reads it."""

    offer: str | None = "optional"  # CONNECTED's `light` header
    challenge: Challenge = no_light
    drop_after: int | None = None  # close the connection abnormally after this many FRAMEs (once)
    end_with: int | None = None  # answer the first FRAME with this code and end the session (close 4000)
    connects: list[dict[str, str]] = field(default_factory=list)
    frames: list[dict[str, str]] = field(default_factory=list)  # each FRAME's headers
    # light:pending FRAMEs dropped unanswered after a light offer, as the ingress does (docs/protocol.md)
    dropped: list[dict[str, str]] = field(default_factory=list)
    steps_sent: list[dict[str, Any]] = field(default_factory=list)


HARNESS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vigil library harness</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/style.css">
<script type="module" src="/harness.js"></script></head>
<body data-state="loading"><main class="check"><div id="stage"></div></main></body></html>
"""
# An integrator's page: the library alone, with the options (and the service) in the query.
HARNESS_JS = """import { Checker } from "/static/vigil.js";
const query = new URLSearchParams(location.search);
const url = query.get("ws") || `ws://${location.host}/ws`;
const checker = new Checker(document.getElementById("stage"), url, JSON.parse(query.get("options") || "{}"));
window.vigilChecker = checker;
checker.on("state", ({ state }) => { document.body.dataset.state = state; });
checker.openCamera().then((ok) => { document.body.dataset.camera = ok ? "on" : "off"; });
"""
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".json": "application/json"}


class FakeVigil:
    """The check page's files (served with the ingress's CSP) and a scripted ``/ws``, one server."""

    def __init__(self) -> None:
        self.script = Script()
        self.server: Server = serve(self._session, "127.0.0.1", 0, process_request=self._http)
        self.url = f"http://127.0.0.1:{self.server.socket.getsockname()[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(5)

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urllib.parse.urlsplit(request.path).path
        if path == "/ws":
            return None
        headers = Headers()
        if path in ("/", "/harness.html"):
            body = (STATIC / "index.html").read_bytes() if path == "/" else HARNESS_HTML.encode()
            headers["Content-Security-Policy"] = PAGE_POLICY
            kind = "text/html"
        elif path == "/harness.js":
            body, kind = HARNESS_JS.encode(), "text/javascript"
        elif path == "/api/ui-config/default":
            body, kind = DEFAULT_CONFIG.model_dump_json().encode(), "application/json"
        elif path == "/api/check-settings":
            roi = {"center_x": 0.5, "center_y": 0.5, "width": 1.0, "height": 1.0}
            body, kind = json.dumps({"roi": roi}).encode(), "application/json"
        elif path.startswith("/static/") and (STATIC / path.removeprefix("/static/")).is_file():
            file = STATIC / path.removeprefix("/static/")
            body, kind = file.read_bytes(), CONTENT_TYPES[file.suffix]
        else:
            return connection.respond(404, "not found\n")
        headers["Content-Type"] = kind
        headers["Content-Length"] = str(len(body))
        headers["Cache-Control"] = "no-store"
        return Response(200, "OK", headers, body)

    def _session(self, connection: ServerConnection) -> None:
        script = self.script
        first_frame: float | None = None
        try:
            for text in connection:
                message = parse(str(text), max_header_bytes=65536)
                if message.command is Command.CONNECT:
                    script.connects.append(message.headers)
                    headers = {"session-id": message.headers.get("session-id", uuid.uuid4().hex), "version": "1.0"}
                    if script.offer:
                        headers["light"] = script.offer
                    connection.send(format_message(Command.CONNECTED, headers))
                elif message.command is Command.FRAME and script.offer and light_pending(message.headers):
                    script.dropped.append(message.headers)
                elif message.command is Command.FRAME:
                    script.frames.append(message.headers)
                    first_frame = first_frame or time.monotonic()
                    if script.drop_after is not None and len(script.frames) == script.drop_after:
                        script.drop_after = None
                        connection.close(1011, "scripted drop")
                        return
                    if script.end_with is not None:
                        body = {"isOk": False, "errors": [script.end_with], "estimations": {}}
                        connection.send(format_message(Command.STATS, {"content-type": "application/json"},
                                                       json.dumps(body)))
                        connection.close(4000, "scripted end")
                        return
                    step = script.challenge(time.monotonic() - first_frame, len(script.frames))
                    estimations = {"lightChallenge": step} if step else {}
                    if step:
                        script.steps_sent.append(step)
                    body = {"isOk": False, "errors": [int(FrameCheck.LIGHT_HOLD_STILL)] if step else [],
                            "estimations": estimations}
                    connection.send(format_message(Command.STATS, {"content-type": "application/json"},
                                                   json.dumps(body)))
        except ConnectionClosed:
            return  # the page went away (a closed browser, a stopped check)


# Recorded inside the page, on performance.now()'s clock: each message's arrival (before the
# library's own listener runs), each message sent (headers only, and how long the library's
# lightLog was then: what was on screen), and at every animation frame what the light overlay
# shows when it changed (null: no overlay).
INSTRUMENT = """
window.__light = { received: [], sent: [], samples: [], events: [] };
const Native = window.WebSocket;
window.WebSocket = class extends Native {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => {
      window.__light.received.push({ at: performance.now(), data: String(event.data) });
    });
  }
  send(data) {
    const painted = window.vigilChecker ? window.vigilChecker.lightLog.length : 0;
    window.__light.sent.push({ at: performance.now(), head: String(data).split("\\n\\n")[0], painted });
    super.send(data);
  }
};
let last = "null";
requestAnimationFrame(function sample(time) {
  const overlay = document.querySelector(".vigil-light");
  let seen = null;
  if (overlay && overlay.isConnected) {
    const halves = [...overlay.children].filter((half) => getComputedStyle(half).display !== "none");
    seen = { pattern: overlay.dataset.pattern, colors: halves.map((half) => getComputedStyle(half).backgroundColor) };
  }
  const text = JSON.stringify(seen);
  if (text !== last) window.__light.samples.push({ at: time, seen });
  last = text;
  requestAnimationFrame(sample);
});
"""
LISTEN = """["light-warning", "light-declined"].forEach((name) =>
  window.vigilChecker.on(name, (detail) => window.__light.events.push({ name, detail })))"""


@dataclass(frozen=True)
class Paint:
    """An entry of the library's lightLog: a step painted, or (step None) the overlay gone."""

    step: int | None
    pattern: str | None
    colors: list[str]
    received_at: float | None
    painted_at: float


@dataclass(frozen=True)
class Record:
    """What the page saw and did, on its own clock."""

    received: list[tuple[float, str]]
    sent: list[tuple[float, dict[str, str], int]]  # FRAMEs: send time, headers, lightLog entries then
    connects: list[dict[str, str]]
    samples: list[tuple[float, tuple[str, list[str]] | None]]  # what the overlay showed from then on
    paints: list[Paint]
    events: list[str]


def headers_of(head: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in head.split("\n")[1:])


def record(page: Page) -> Record:
    raw = page.evaluate("({ ...window.__light, log: window.vigilChecker.lightLog })")
    sent = raw["sent"]
    return Record(
        received=[(m["at"], m["data"]) for m in raw["received"]],
        sent=[(m["at"], headers_of(m["head"]), m["painted"]) for m in sent if m["head"].startswith("FRAME\n")],
        connects=[headers_of(m["head"]) for m in sent if m["head"].startswith("CONNECT\n")],
        samples=[(s["at"], (s["seen"]["pattern"], s["seen"]["colors"]) if s["seen"] else None) for s in raw["samples"]],
        paints=[Paint(p["step"], p["pattern"], p["colors"], p["receivedAt"], p["paintedAt"]) for p in raw["log"]],
        events=[e["name"] for e in raw["events"]],
    )


def hex_color(css: str) -> str:
    """'rgb(255, 255, 0)' -> '#ffff00'."""
    r, g, b = (int(part) for part in css.removeprefix("rgb(").removesuffix(")").split(","))
    return f"#{r:02x}{g:02x}{b:02x}"


def screen_quarters(shown: tuple[str, list[str]] | None) -> list[str] | None:
    """What each quarter of the screen shows (top-left, top-right, bottom-left, bottom-right)."""
    if shown is None:
        return None
    pattern, css = shown
    colors = [hex_color(c) for c in css]
    if pattern == "left_right":
        return [colors[0], colors[1], colors[0], colors[1]]
    if pattern == "top_bottom":
        return [colors[0], colors[0], colors[1], colors[1]]
    return colors * 4


def luminance_changes(samples: list[tuple[float, tuple[str, list[str]] | None]]) -> list[float]:
    """When what is on screen changed its luminance (shared/light.py's rule, on any quarter; the
    overlay appearing or going counts)."""
    def changed(a: str, b: str) -> bool:
        return abs(luminance(a) - luminance(b)) >= FLASH_DELTA and min(luminance(a), luminance(b)) < FLASH_DARKER_BELOW

    times, before = [], None
    for at, shown in samples:
        now = screen_quarters(shown)
        if before is None or now is None:
            if (before is None) != (now is None):
                times.append(at)
        elif any(changed(a, b) for a, b in zip(before, now, strict=True)):
            times.append(at)
        before = now
    return times


def stats_steps(received: list[tuple[float, str]]) -> list[tuple[float, dict[str, Any] | None]]:
    """Each STATS' arrival and its lightChallenge."""
    steps = []
    for at, data in received:
        if data.startswith("STATS\n"):
            steps.append((at, json.loads(data.split("\n\n", 1)[1])["estimations"].get("lightChallenge")))
    return steps


def first_arrival(rec: Record, step: int | None) -> float:
    return min(at for at, light in stats_steps(rec.received) if light and light["step"] == step)


def assert_frames_tagged_with_the_step_on_screen(rec: Record) -> dict[int, int]:
    """Every FRAME names the step on screen when it left (the last paint before it: by order, as
    a paint's rAF timestamp is its frame's start and may precede a FRAME sent just before it),
    captured at least SETTLE_MS after that paint; none while no overlay shows. Returns tagged
    FRAMEs per step."""
    per_step: dict[int, int] = {}
    for sent_at, headers, painted in rec.sent:
        on_screen = rec.paints[painted - 1] if painted else None
        if on_screen is None or on_screen.step is None:
            assert "light-step" not in headers, headers
            assert "light-painted" not in headers, headers
            continue
        assert headers.get("light-step") == str(on_screen.step), (headers, on_screen)
        assert headers["light-painted"] == f"{on_screen.painted_at:.1f}", (headers, on_screen)
        assert float(headers["frame-time"]) >= on_screen.painted_at + SETTLE_MS - 0.1, (headers, on_screen)
        assert float(headers["frame-time"]) <= sent_at
        per_step[on_screen.step] = per_step.get(on_screen.step, 0) + 1
    return per_step


def assert_within_the_flash_limits(rec: Record) -> list[float]:
    """At most 3 luminance changes in any second, seen frame by frame; no saturated red painted."""
    changes = luminance_changes(rec.samples)
    for k in range(len(changes) - MAX_CHANGES_PER_S):
        assert changes[k + MAX_CHANGES_PER_S] - changes[k] > WINDOW_MS, changes[k:k + MAX_CHANGES_PER_S + 1]
    shown = [hex_color(c) for _, s in rec.samples if s for c in s[1]]
    assert not [c for c in shown if is_saturated_red(c)]
    assert not [c for p in rec.paints for c in p.colors if is_saturated_red(c)]
    return changes


# ---- Chromium and the scripted service, for the modules' fixtures -------------------------------

def scripted_service() -> Iterator[FakeVigil]:
    server = FakeVigil()
    yield server
    server.close()


def playwright_driver() -> Iterator[Playwright]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


def chromium(playwright: Playwright) -> Iterator[Callable[..., Browser]]:
    """A fresh Chromium: Chromium's own fake camera, or a .y4m file of real media."""
    browsers: list[Browser] = []

    def launch(camera: Path | None = None) -> Browser:
        flags = [*CHROMIUM_FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
        if camera is not None:
            flags.append(f"--use-file-for-fake-video-capture={camera}")
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=flags, headless=True)
        browsers.append(launched)
        return launched

    yield launch
    for launched in browsers:
        launched.close()


# ---- the page, instrumented ---------------------------------------------------------------------

@dataclass
class Opened:
    page: Page
    console: list[str]  # the console's warnings and errors
    wire: Session  # the LPProto messages on the wire, as Playwright sees them


def open_page(browser: Browser, url: str, *, reduced_motion: bool = False) -> Opened:
    """The page with the instrumentation."""
    page = browser.new_page(viewport={"width": 720, "height": 860}, locale="en-US",
                            reduced_motion="reduce" if reduced_motion else "no-preference")
    opened = Opened(page, [], Session(page))
    page.on("console", lambda m: opened.console.append(f"{m.type}: {m.text}") if m.type in ("warning", "error")
            else None)
    page.on("pageerror", lambda error: opened.console.append(f"pageerror: {error}"))

    def on_socket(socket: Any) -> None:
        socket.on("framesent", lambda payload: opened.wire.sent.append(str(payload)))
        socket.on("framereceived", lambda payload: opened.wire.received.append(str(payload)))

    page.on("websocket", on_socket)
    page.add_init_script(INSTRUMENT)
    page.goto(url)
    return opened


def start_page(browser: Browser, base: str, *, reduced_motion: bool = False) -> Opened:
    """The check page (index.html, page.js) of that service, its Start pressed."""
    opened = open_page(browser, f"{base}/?lang=en", reduced_motion=reduced_motion)
    opened.page.wait_for_selector("#start:enabled", timeout=20_000)
    opened.page.evaluate(LISTEN)
    opened.page.click("#start")
    return opened


def start_harness(browser: Browser, base: str, options: dict[str, Any], ws: str = "") -> Opened:
    """The library alone in an integrator's page, with these options, started."""
    query = urllib.parse.urlencode({"options": json.dumps(options), "ws": ws})
    opened = open_page(browser, f"{base}/harness.html?{query}")
    opened.page.wait_for_selector('body[data-camera="on"]', state="attached", timeout=20_000)
    opened.page.evaluate(LISTEN)
    opened.page.evaluate("window.vigilChecker.start()")
    return opened


def warning(page: Page) -> Any:
    return page.get_by_role("dialog", name="Colours on your screen")
