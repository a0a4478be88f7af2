"""The screen-light challenge in a real browser (docs/protocol.md, "Screen-light challenge"): the
page warns first, paints each step the service sends on the next animation frame, keeps to the
photosensitivity limits whatever the service sends, and tags each frame with the step it was
captured under.

Two halves. Against a scripted LPProto service in this file (a ``websockets`` server that also
serves the page's files with the ingress's CSP): the page's own timing and limits, measured inside
the page with animation-frame timestamps (an init script records when each message arrives, when
each FRAME leaves, and what the overlay shows at every animation frame); Chromium's built-in fake
camera, no media needed. Then end to end against the real services with the light challenge on,
the camera fed from real media (tests/test_browser.py's machinery).
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

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from infra.redis_server import RedisServer
from services.ingress.app import PAGE_POLICY, STATIC
from shared.errors import FrameCheck
from shared.light import FLASH_DARKER_BELOW, FLASH_DELTA, MAX_CHANGES_PER_S, WINDOW_MS, is_saturated_red
from shared.light import relative_luminance as luminance
from shared.lpproto import Command, format_message, parse
from shared.tokens import verify_token
from shared.ui_config import DEFAULT_CONFIG
from tests.stack import Stack
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, REAL_VIDEO, Session, require_browser, video_frames, write_y4m

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

pytestmark = pytest.mark.slow

SETTLE_MS = 60  # the library's lightSettleMs default: a tagged frame was captured this long after the paint
MAX_PAINT_LATENCY_MS = 50  # a step is on screen within ~2 animation frames (60 Hz) of its STATS
FRAME_MS = 1000 / 60
WHITE, YELLOW, CYAN, BLUE, MAGENTA, GREEN = "#ffffff", "#ffff00", "#00ffff", "#0000ff", "#ff00ff", "#00ff00"
KEY = "browser-light-test-signing-key-" + "x" * 32

Challenge = Callable[[float, int], "dict[str, Any] | None"]  # (s since the first FRAME, FRAMEs so far) -> step


def no_light(elapsed: float, frames: int) -> dict[str, Any] | None:
    return None


def instruction(step: int, total: int, pattern: str, colors: list[str], duration_ms: int) -> dict[str, Any]:
    return {"step": step, "total": total, "pattern": pattern, "colors": colors, "durationMs": duration_ms,
            "declinable": True}


def timed(steps: list[tuple[str, list[str]]], step_ms: int, baseline_ms: int = 800) -> Challenge:
    """The white baseline for ``baseline_ms`` from the first FRAME, then each step for ``step_ms``;
    after the last one, no ``lightChallenge`` (the challenge is over)."""
    def challenge(elapsed: float, frames: int) -> dict[str, Any] | None:
        ms = elapsed * 1000
        index = 0 if ms < baseline_ms else 1 + int((ms - baseline_ms) // step_ms)
        if index > len(steps):
            return None
        pattern, colors = ("full", [WHITE]) if index == 0 else steps[index - 1]
        return instruction(index, len(steps), pattern, colors, baseline_ms if index == 0 else step_ms)
    return challenge


def per_frame(steps: list[tuple[str, list[str]]]) -> Challenge:
    """A new step in every reply (one every ~100 ms), far beyond the flash limit; then over."""
    def challenge(elapsed: float, frames: int) -> dict[str, Any] | None:
        if frames > len(steps):
            return None
        pattern, colors = steps[frames - 1]
        return instruction(frames, len(steps), pattern, colors, 100)
    return challenge


def holding(pattern: str, colors: list[str]) -> Challenge:
    return lambda elapsed, frames: instruction(1, 1, pattern, colors, 400)


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
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


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


# ---- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fake() -> Iterator[FakeVigil]:
    server = FakeVigil()
    yield server
    server.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright: Playwright) -> Iterator[Callable[..., Browser]]:
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


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def warning(page: Page) -> Any:
    return page.get_by_role("dialog", name="Colours on your screen")


# ---- against the scripted service ------------------------------------------------------------

SEQUENCE = [("full", [CYAN]), ("left_right", [YELLOW, BLUE]), ("full", [WHITE]), ("top_bottom", [MAGENTA, GREEN]),
            ("full", [BLUE]), ("left_right", [CYAN, MAGENTA]), ("full", [YELLOW])]


def test_each_step_is_painted_within_two_animation_frames_and_frames_carry_it(
    browser: Callable[..., Browser], fake: FakeVigil,
) -> None:
    """Steps 600 ms apart (under 3 changes a second: the flash limit never delays them)."""
    fake.script = script = Script(challenge=timed(SEQUENCE, step_ms=600))
    opened = start_page(browser(), fake.url)
    page = opened.page
    warning(page).wait_for(timeout=10_000)
    page.keyboard.press("Enter")  # "Start" has the focus
    wait_until(lambda: any(f.get("light-step") == str(len(SEQUENCE)) for f in script.frames), 20, "the last step")
    page.wait_for_selector(".vigil-light", state="detached", timeout=5_000)
    time.sleep(0.3)
    rec = record(page)
    assert rec.connects[0]["light"] == "1"
    assert rec.events == ["light-warning"]
    # Every step the service sent, painted once, in order, in its colours.
    assert [(p.step, p.pattern, p.colors) for p in rec.paints] == [
        (0, "full", [WHITE]), *((k, pattern, colors) for k, (pattern, colors) in enumerate(SEQUENCE, 1)),
        (None, None, [])]
    steps = [p for p in rec.paints if p.step is not None]
    latencies = [p.painted_at - first_arrival(rec, p.step) for p in steps]
    # The same seen from outside the library: the first animation frame showing the step's colours.
    seen = []
    for paint in steps:
        arrival = first_arrival(rec, paint.step)
        seen.append(min(at for at, shown in rec.samples if at >= arrival and shown is not None
                        and shown[0] == paint.pattern and [hex_color(c) for c in shown[1]] == paint.colors) - arrival)
    print("paint latency ms (library's rAF):", [round(x, 1) for x in latencies])
    print("paint latency ms (seen by a later rAF):", [round(x, 1) for x in seen])
    # A rAF timestamp is its frame's start: a step that arrived during a frame can be painted in it.
    assert all(-FRAME_MS <= x < MAX_PAINT_LATENCY_MS for x in latencies), latencies
    assert all(0 <= x < MAX_PAINT_LATENCY_MS for x in seen), seen
    per_step = assert_frames_tagged_with_the_step_on_screen(rec)
    assert sorted(per_step) == list(range(len(SEQUENCE) + 1)), per_step
    changes = assert_within_the_flash_limits(rec)
    assert len(changes) >= len(SEQUENCE)  # every step changed the luminance, and none was held back
    assert page.get_attribute("#stage", "data-vigil-light") is None
    assert not opened.console, opened.console


def test_a_service_flashing_every_frame_is_held_to_three_changes_a_second_and_no_red(
    browser: Callable[..., Browser], fake: FakeVigil,
) -> None:
    """A new step in every reply, black and white and a saturated red: the page paints at most 3
    luminance changes in any second (the tags stay on the old step meanwhile) and never the red."""
    flood = [("full", [WHITE if k % 2 else "#000000"]) for k in range(30)]
    reds = [("full", ["#ff0000"]), ("left_right", ["#ff1010", CYAN])]
    red_frames = 8  # each red step held this many replies, so that a paint really tries it

    def challenge(elapsed: float, frames: int) -> dict[str, Any] | None:
        if frames <= len(flood):
            return per_frame(flood)(elapsed, frames)
        red = (frames - len(flood) - 1) // red_frames
        return instruction(len(flood) + red + 1, len(flood) + 2, *reds[red], 400) if red < len(reds) else None

    fake.script = script = Script(challenge=challenge)
    opened = start_harness(browser(), fake.url, {"lightConsent": "accept", "frameIntervalMs": 50})
    page = opened.page
    wait_until(lambda: len(script.frames) > len(flood) + len(reds) * red_frames + 3, 30, "the flood to end")
    page.wait_for_selector(".vigil-light", state="detached", timeout=5_000)
    rec = record(page)
    assert rec.events == []  # answered beforehand: no warning
    changes = assert_within_the_flash_limits(rec)
    flood_at = [at for at, light in stats_steps(rec.received) if light and light["step"] <= len(flood)]
    painted = [p for p in rec.paints if p.step is not None and p.step <= len(flood)]
    print(f"{len(flood_at)} steps in {flood_at[-1] - flood_at[0]:.0f} ms; {len(painted)} painted;",
          f"{len(changes)} luminance changes")
    assert (len(flood_at) - 1) / (flood_at[-1] - flood_at[0]) * 1000 > 5  # the service really flashed
    assert len(painted) < 0.75 * len(flood_at)  # ... and the page held it back
    # The red steps: painted with what each half showed before (no change), with a warning.
    before = painted[-1].colors[0]
    assert [(p.step, p.colors) for p in rec.paints[len(painted):]] == [
        (len(flood) + 1, [before]), (len(flood) + 2, [before, CYAN]), (None, [])]
    assert opened.console == [f"warning: vigil: not painting saturated red {c} (WCAG 2.3.1)"
                              for c in ("#ff0000", "#ff1010")], opened.console
    assert_frames_tagged_with_the_step_on_screen(rec)


def test_the_warning_comes_first_is_accessible_and_the_overlay_keeps_the_camera_and_prompt_in_view(
    browser: Callable[..., Browser], fake: FakeVigil, tmp_path: Path,
) -> None:
    fake.script = script = Script(challenge=holding("left_right", [YELLOW, BLUE]))
    chromium = browser()
    opened = start_page(chromium, fake.url)
    page = opened.page
    dialog = warning(page)
    dialog.wait_for(timeout=10_000)
    assert dialog.evaluate("(d) => d.matches(':modal')")
    text = dialog.inner_text()
    assert "about 5 seconds" in text
    assert "brightness up" in text
    assert "flashing light" in text
    assert dialog.locator("button:visible").all_inner_texts() == ["Start", "Check without colours"]
    focused = "document.activeElement.textContent"
    assert page.evaluate(focused) == "Start"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"  # focus shows
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "Check without colours"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(focused) == "Start"
    page.screenshot(path=str(tmp_path / "warning.png"))
    time.sleep(1)
    assert script.frames == []  # nothing is sent before the answer
    page.keyboard.press("Space")
    page.wait_for_selector(".vigil-light", timeout=10_000)
    assert not dialog.is_visible()
    # Yellow on the left, blue on the right as the person sees the screen; the camera picture on top.
    color_at = "([x, y]) => getComputedStyle(document.elementFromPoint(x, y)).backgroundColor"
    assert page.evaluate(color_at, [5, 5]) == "rgb(255, 255, 0)"
    assert page.evaluate(color_at, [700, 845]) == "rgb(0, 0, 255)"
    box = page.locator(".vigil-viewport").bounding_box()
    assert box is not None
    middle = [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2]
    assert page.evaluate("([x, y]) => !!document.elementFromPoint(x, y).closest('.vigil-viewport')", middle)
    # ... centred (it darkens both halves of a split alike), and leaving most of the screen lit.
    assert middle == pytest.approx([360, 430], abs=1)
    assert box["width"] * box["height"] < 0.3 * 720 * 860
    # The prompt above the light (and in the page's live region), with the brightness hint.
    page.wait_for_selector(f'#prompt[data-codes~="{int(FrameCheck.LIGHT_HOLD_STILL)}"]', state="attached")
    assert page.inner_text("#prompt") == "Hold still and look at the screen."
    assert page.get_attribute("#prompt", "aria-live") == "polite"
    # Above the camera picture the prompt, below it the hint: on top, balanced about the middle.
    on_top = "([x, y]) => !!document.elementFromPoint(x, y).closest('.vigil-light-caption')"
    edges: list[float] = []
    for part, expected in [(".vigil-light-prompt", "Hold still and look at the screen."),
                           (".vigil-light-hint", "Turn your screen brightness up.\nStop")]:
        assert page.inner_text(part).replace("\n\n", "\n") == expected
        place = page.locator(part).bounding_box()
        assert place is not None
        assert page.evaluate(on_top, [place["x"] + place["width"] / 2, place["y"] + place["height"] / 2])
        edges.append(place["y"] + place["height"] if not edges else place["y"])
    assert edges[0] < box["y"]
    assert edges[1] > box["y"] + box["height"]
    assert 430 - edges[0] == pytest.approx(edges[1] - 430, abs=1)
    page.screenshot(path=str(tmp_path / "left-right.png"))
    script.challenge = holding("top_bottom", [MAGENTA, GREEN])
    page.wait_for_selector('.vigil-light[data-pattern="top_bottom"]', timeout=5_000)
    assert page.evaluate(color_at, [5, 5]) == "rgb(255, 0, 255)"
    assert page.evaluate(color_at, [700, 845]) == "rgb(0, 255, 0)"
    # The challenge over: the overlay goes with the next reply.
    script.challenge = no_light
    page.wait_for_selector(".vigil-light", state="detached", timeout=5_000)
    assert page.get_attribute("#stage", "data-vigil-light") is None
    # A way to stop the colours (WCAG 2.2.2).
    script.challenge = holding("full", [CYAN])
    page.locator(".vigil-light-caption button").click(timeout=5_000)
    page.wait_for_selector('body[data-state="stopped"]', state="attached", timeout=5_000)
    # Within the second: going may wait for the flash limit like any change.
    page.wait_for_selector(".vigil-light", state="detached", timeout=1_100)
    assert not opened.console, opened.console

    # Reduced motion asked for: the check without colours comes first, with the focus.
    fake.script = Script(challenge=holding("full", [CYAN]))
    gentle = start_page(chromium, fake.url, reduced_motion=True).page
    warning(gentle).wait_for(timeout=10_000)
    assert warning(gentle).locator("button:visible").all_inner_texts() == ["Check without colours", "Start"]
    assert gentle.evaluate(focused) == "Check without colours"
    gentle.close()

    # Required: no colours-free check; Escape (or Cancel) stops without sending a frame.
    fake.script = required = Script(offer="required", challenge=holding("full", [CYAN]))
    strict = start_page(chromium, fake.url).page
    warning(strict).wait_for(timeout=10_000)
    assert warning(strict).locator("button:visible").all_inner_texts() == ["Start", "Cancel"]
    strict.keyboard.press("Escape")
    strict.wait_for_selector('body[data-state="stopped"]', state="attached", timeout=5_000)
    assert required.frames == []


def test_declining_sends_light_declined_on_every_frame_and_never_shows_the_overlay(
    browser: Callable[..., Browser], fake: FakeVigil,
) -> None:
    # The service misbehaves and sends steps anyway, then drops the connection once.
    fake.script = script = Script(challenge=holding("full", [CYAN]), drop_after=6)
    opened = start_page(browser(), fake.url)
    page = opened.page
    warning(page).wait_for(timeout=10_000)
    page.get_by_role("button", name="Check without colours").click()
    wait_until(lambda: len(script.frames) >= 14, 20, "frames after the reconnection")
    rec = record(page)
    assert rec.events == ["light-warning", "light-declined"]
    assert len(script.connects) == 2
    assert script.connects[0]["light"] == "1"
    # The answer holds for the session: the resumed connection says so, and no warning again.
    assert script.connects[1]["light"] == "declined"
    assert script.connects[1]["session-id"]
    assert not warning(page).is_visible()
    assert all(f.get("light") == "declined" and "light-step" not in f and "light-painted" not in f
               for f in script.frames), script.frames
    assert script.steps_sent
    assert rec.paints == []
    assert rec.samples == []
    assert page.locator(".vigil-light").count() == 0
    assert not opened.console, opened.console


def test_a_session_the_service_ends_over_the_light_says_why(browser: Callable[..., Browser], fake: FakeVigil) -> None:
    """103 then close 4000 (the operator requires the light): the alert gives 103's reason."""
    fake.script = Script(end_with=int(FrameCheck.LIGHT_REQUIRED))
    page = start_page(browser(), fake.url).page
    warning(page).wait_for(timeout=10_000)
    page.get_by_role("button", name="Check without colours").click()
    page.wait_for_selector('body[data-state="failed"]', state="attached", timeout=10_000)
    assert page.inner_text("#alert") == "This check needs the colour light on your screen."


@pytest.mark.parametrize(("options", "connect_light", "frame_light"), [
    ({"light": False}, None, None),  # a legacy client: no light headers at all
    ({"lightConsent": "decline"}, "declined", "declined"),  # a kiosk that asked already
])
def test_a_client_without_light_ignores_the_offer_and_the_steps(
    browser: Callable[..., Browser], fake: FakeVigil, options: dict[str, Any], connect_light: str | None,
    frame_light: str | None,
) -> None:
    fake.script = script = Script(challenge=holding("left_right", [YELLOW, BLUE]))
    opened = start_harness(browser(), fake.url, options)
    page = opened.page
    wait_until(lambda: len(script.frames) >= 8, 20, "frames")
    rec = record(page)
    assert script.connects[0].get("light") == connect_light
    assert all(f.get("light") == frame_light and "light-step" not in f and "light-painted" not in f
               for f in script.frames), script.frames
    assert rec.events == []
    assert rec.paints == []
    assert rec.samples == []
    assert page.locator("dialog").count() == 0
    assert not opened.console, opened.console


# ---- end to end: the real services with the light challenge on ---------------------------------

@pytest.fixture(scope="module")
def real_face(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_browser()
    folder = tmp_path_factory.mktemp("light-camera")
    return write_y4m(folder / "real_face.y4m", video_frames(data_dir / REAL_VIDEO, 490, 620, 2), fps=15)


@pytest.fixture(scope="module")
def light_stack(
    real_face: Path, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    running = Stack(
        redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("light-stack"),
        VIGIL_JWT__KEY=KEY, VIGIL_SESSION__AGGREGATE_FRAMES="3",
        VIGIL_LIGHT_CHALLENGE__IS_ENABLED="true", VIGIL_LIGHT_CHALLENGE__ALLOW_DECLINE="true",
        # One sequence: Chromium's fake camera reflects no screen light, so retries only add time.
        VIGIL_LIGHT_CHALLENGE__MAX_RETRIES="0",
        VIGIL_SESSION__MAX_ATTEMPTS="null", VIGIL_SESSION__MAX_LIVENESS_ATTEMPTS="null",
    )
    running.start_all("ingress", "estimator", "decider", "plugins")
    yield running
    running.stop()


def payload_of(session: Session) -> dict[str, Any]:
    success = session.messages("SUCCESS", session.received)
    assert len(success) == 1
    return verify_token(success[0].split("\n\n", 1)[1], key=KEY, algorithms=["HS256"])


@pytest.mark.timeout(150)
def test_the_services_steps_are_painted_and_tagged_end_to_end(
    browser: Callable[..., Browser], light_stack: Stack, real_face: Path, tmp_path: Path,
) -> None:
    opened = start_page(browser(real_face), light_stack.http_url)
    page, session = opened.page, opened.wire
    warning(page).wait_for(timeout=20_000)
    warning(page).get_by_role("button", name="Start").click()
    page.wait_for_selector(".vigil-light", state="attached", timeout=30_000)
    page.screenshot(path=str(tmp_path / "light-on.png"))
    page.wait_for_selector(".vigil-light", state="detached", timeout=60_000)
    time.sleep(0.5)
    rec = record(page)
    assert session.messages("CONNECTED", session.received)[0].count("\nlight:optional") == 1
    sent = [light for _, light in stats_steps(rec.received) if light]
    assert sent
    assert (sent[0]["step"], sent[0]["colors"]) == (0, [WHITE])
    issued = {light["step"]: (light["pattern"], light["colors"]) for light in sent}
    steps = [p for p in rec.paints if p.step is not None]
    assert {p.step: (p.pattern, p.colors) for p in steps} == issued  # each step the service sent, as sent
    latencies = [p.painted_at - first_arrival(rec, p.step) for p in steps]
    print("end-to-end paint latency ms:", [round(x, 1) for x in latencies])
    assert all(-FRAME_MS <= x < MAX_PAINT_LATENCY_MS for x in latencies), latencies
    per_step = assert_frames_tagged_with_the_step_on_screen(rec)
    assert sorted(per_step) == sorted(issued), per_step
    assert_within_the_flash_limits(rec)
    # No light came back from a fake camera: the service says so, or lets the session go on without it.
    page.wait_for_selector('body[data-state="success"], body[data-state="failed"]', state="attached", timeout=60_000)
    codes = {code for m in session.messages("STATS", session.received)
             for code in json.loads(m.split("\n\n", 1)[1])["errors"]}
    print("outcome:", page.evaluate("document.body.dataset.state"), "codes:", sorted(codes))
    if page.evaluate("document.body.dataset.state") == "success":
        assert "light" not in payload_of(session)["defences"]
    else:
        assert codes & {int(FrameCheck.LIGHT_FAILED), int(FrameCheck.LIGHT_TOO_WEAK)}
    assert not opened.console, opened.console


@pytest.mark.timeout(150)
def test_a_declined_session_passes_without_the_light_defence_end_to_end(
    browser: Callable[..., Browser], light_stack: Stack, fake: FakeVigil, real_face: Path,
) -> None:
    opened = start_harness(browser(real_face), fake.url, {"lightConsent": "decline"}, light_stack.ws_url)
    page, session = opened.page, opened.wire
    page.wait_for_selector('body[data-state="success"]', state="attached", timeout=60_000)
    connect = session.messages("CONNECT")[0]
    assert "\nlight:declined" in connect
    assert session.messages("CONNECTED", session.received)[0].count("\nlight:optional") == 1
    frames = session.messages("FRAME")
    assert frames
    assert all("\nlight:declined\n" in f and "light-step" not in f for f in frames)
    assert page.locator("dialog").count() == 0
    assert record(page).samples == []
    assert "light" not in payload_of(session)["defences"]
    assert not opened.console, opened.console
