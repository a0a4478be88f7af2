"""The check page in a real browser: Debian's headless Chromium driven by Playwright for Python,
its camera fed by ``--use-file-for-fake-video-capture`` from .y4m files made here from real media
(never copied into the repository), against the real services (ingress, estimator, decider) on a
real Redis.

Chromium comes from ``infra/install_system.sh`` (the project's set-up; never ``playwright
install``). Missing browser: these tests skip locally with the reason, and fail when ``CI`` is set.
Screenshots are kept under the test's tmp dir; with ``UPDATE_SCREENSHOTS=1`` the prompt
screenshot also replaces ``docs/screenshots/check-page.png`` (made from a CC0 portrait only).
"""

from __future__ import annotations

import os
import re
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import av
import numpy as np
import pytest
import redis as sync_redis
from av.video.stream import VideoStream
from PIL import Image, ImageEnhance

from infra.redis_server import RedisServer
from shared.errors import FrameCheck
from shared.keys import Keys
from shared.ui_config import UiConfig
from tests import media
from tests.needs import unavailable
from tests.stack import ROOT, Stack

if TYPE_CHECKING:
    from playwright.sync_api import Page, Playwright, Route, WebSocketRoute

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# ../shared/reference/field-notes.md: the flags that work on these machines, then the fake camera.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOT = ROOT / "docs" / "screenshots" / "check-page.png"
REAL_VIDEO = "pad_replay_tranvanluyt/videos__real.mp4"  # genuine selfie video; frontal in frames 490-620
REDIRECT = "https://relying-party.test/after-check"
KEY = "browser-test-signing-key-" + "x" * 32

KIOSK = UiConfig(
    name="kiosk", redirect_url=REDIRECT, mode="operator", start_button_text="Begin the check",
    success_message="Thank you, you are verified", error_messages={"1": "No face here: look at the lens"},
    camera_not_attached_message="Plug in the kiosk camera", mode_tooltip="Operator holds the camera",
    styles="#start { background-color: rgb(10, 120, 30); }",
)


def require_browser() -> None:
    problem = None
    if not CHROMIUM.is_file():
        problem = f"{CHROMIUM} is missing: run infra/install_system.sh as root (make test does)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed in this environment (the dev extra)"
    if problem:
        unavailable(problem)


# ---- media: real video and photos turned into the fake camera's .y4m files ----------------------

def write_y4m(path: Path, frames: Iterable[np.ndarray], fps: int) -> Path:
    """Raw I420 frames in a YUV4MPEG2 file, which Chromium's fake camera plays in a loop."""
    with av.open(str(path), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=fps)
        assert isinstance(stream, VideoStream)
        for number, rgb in enumerate(frames):
            if number == 0:
                stream.width, stream.height = rgb.shape[1], rgb.shape[0]
                stream.pix_fmt = "yuv420p"
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def video_frames(path: Path, first: int, last: int, step: int) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number >= last:
                return
            if number >= first and (number - first) % step == 0:
                yield frame.to_ndarray(format="rgb24")


def still(image: Image.Image, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A photo centred on a neutral background of the camera's size (no upscaling blur)."""
    image = image.copy()
    image.thumbnail(size)
    canvas = Image.new("RGB", size, (128, 128, 128))
    canvas.paste(image, ((size[0] - image.width) // 2, (size[1] - image.height) // 2))
    return np.asarray(canvas)


def panned(image: Image.Image, frames: int, size: tuple[int, int] = (640, 480)) -> Iterator[np.ndarray]:
    """A slow pan across a real photo: a moving camera picture."""
    window = (image.width * 3 // 4, image.height * 3 // 4)
    for number in range(frames):
        x = (image.width - window[0]) * number // max(1, frames - 1)
        yield np.asarray(image.crop((x, 0, x + window[0], window[1])).resize(size))


@dataclass(frozen=True)
class Media:
    real_face: Path  # a genuine person's frontal selfie video segment
    no_face: Path  # a real photo's background, panned: no face anywhere
    dark_face: Path  # a CC0 frontal portrait, too dark


@pytest.fixture(scope="module")
def camera_files(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Media:
    require_browser()
    folder = tmp_path_factory.mktemp("camera")
    real = write_y4m(folder / "real_face.y4m", video_frames(data_dir / REAL_VIDEO, 490, 620, 2), fps=15)
    background = media.photo(data_dir, media.FACE_PHOTO)
    background = background.crop((0, 0, background.width * 2 // 5, background.height))
    no_face = write_y4m(folder / "no_face.y4m", panned(background, 20), fps=10)
    portrait = ImageEnhance.Brightness(media.photo(data_dir, media.NEUTRAL_FACE)).enhance(0.25)
    dark = write_y4m(folder / "dark_face.y4m", [still(portrait)] * 2, fps=5)
    return Media(real, no_face, dark)


# ---- the services and the browser ------------------------------------------------------------

@pytest.fixture(scope="module")
def stack(
    camera_files: Media, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    running = Stack(
        redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("stack"),
        VIGIL_JWT__KEY=KEY, VIGIL_SESSION__AGGREGATE_FRAMES="3",
        # The no-face and reconnection tests keep one session going for a while.
        VIGIL_SESSION__MAX_ATTEMPTS="null", VIGIL_SESSION__MAX_LIVENESS_ATTEMPTS="null",
        # The page's other paths; the light challenge has its own browser tests (test_browser_light*.py).
        VIGIL_LIGHT_CHALLENGE__IS_ENABLED="false",
    )
    running.start_all()
    client = sync_redis.Redis.from_url(redis_server.url)
    client.hset(Keys(running.prefix).ui_configs, KIOSK.name, KIOSK.model_dump_json())
    client.close()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def playwright(camera_files: Media) -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@dataclass
class Session:
    page: Page
    sent: list[str] = field(default_factory=list)  # LPProto messages the page sent
    received: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def messages(self, command: str, messages: list[str] | None = None) -> list[str]:
        return [m for m in (self.sent if messages is None else messages) if m.startswith(command + "\n")]

    def state(self) -> str:
        return str(self.page.evaluate("document.body.dataset.state"))

    def wait_state(self, state: str, timeout_s: float = 20) -> None:
        # Selectors, not wait_for_function: the page's CSP forbids the eval that one needs.
        self.page.wait_for_selector(f'body[data-state="{state}"]', state="attached", timeout=timeout_s * 1000)

    def wait_code(self, code: int, timeout_s: float = 20) -> None:
        self.page.wait_for_selector(f'#prompt[data-codes~="{code}"]', state="attached", timeout=timeout_s * 1000)


@pytest.fixture
def browser_page(
    playwright: Playwright, stack: Stack, tmp_path: Path,
) -> Iterator[Callable[..., Session]]:
    """Opens the page in a fresh Chromium whose camera plays the given file."""
    browsers = []

    def open_page(camera: Path | None, query: str = "", *, camera_allowed: bool = True) -> Session:
        flags = list(CHROMIUM_FLAGS)
        if camera_allowed:
            flags.append("--use-fake-ui-for-media-stream")  # the permission prompt says yes
        if camera is not None:
            flags += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera}"]
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=flags, headless=True)
        browsers.append(browser)
        page = browser.new_page(viewport={"width": 720, "height": 860}, locale="en-US")
        session = Session(page)
        page.on("console", lambda m: session.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: session.console_errors.append(str(error)))

        def on_socket(socket: object) -> None:
            socket.on("framesent", lambda payload: session.sent.append(str(payload)))  # type: ignore[attr-defined]
            socket.on("framereceived", lambda payload: session.received.append(str(payload)))  # type: ignore[attr-defined]

        page.on("websocket", on_socket)
        page.goto(f"{stack.http_url}/{query}")
        return session

    yield open_page
    for browser in browsers:
        browser.close()


def shot(session: Session, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    session.page.screenshot(path=str(path), full_page=True)
    return path


def codes_shown(session: Session) -> str:
    return str(session.page.get_attribute("#prompt", "data-codes") or "")


def visible_scores(text: str) -> list[str]:
    """Numbers that look like scores (0.87, 87 %) in the page's visible text."""
    return re.findall(r"\b\d+\.\d+\b|\d+\s?%", text)


# ---- the tests -------------------------------------------------------------------------------

def test_real_face_reaches_success_shows_it_and_redirects(
    browser_page: Callable[..., Session], camera_files: Media, tmp_path: Path,
) -> None:
    session = browser_page(camera_files.real_face, "?cn=kiosk")
    page = session.page
    landed: list[str] = []

    def relying_party(route: Route) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<title>Relying party</title><h1>Welcome back</h1>")

    page.route("https://relying-party.test/**", relying_party)
    page.wait_for_selector("#start:enabled", timeout=20_000)
    page.focus("#start")
    page.keyboard.press("Enter")  # keyboard usable
    session.wait_state("success", 45)
    assert page.inner_text("#success").startswith("Thank you, you are verified")
    shot(session, tmp_path, "success")
    success = session.messages("SUCCESS", session.received)
    assert len(success) == 1
    assert success[0].split("\n\n", 1)[1].count(".") == 2  # the JWT: header.payload.signature
    page.wait_for_url(REDIRECT, timeout=10_000)
    assert landed == [REDIRECT]
    assert page.inner_text("h1") == "Welcome back"
    # The page sent what the virtual-camera check needs, one frame per reply.
    connect = session.messages("CONNECT")[0]
    assert "\ncamera-label:" in connect
    assert "\ncamera-settings:{" in connect
    assert "\nuser-agent:" in connect
    assert "\nheartbeat:5000" in connect
    frames = session.messages("FRAME")
    assert all("\nframe-time:" in f and "\ncontent-type:image/x-jpeg-base64\n" in f for f in frames)
    replies = [m for m in session.received if m.startswith(("STATS\n", "SUCCESS\n", "ERROR\n"))]
    assert len(frames) == len(replies)
    assert not session.console_errors


def test_no_face_keeps_the_no_face_prompt_on_screen(
    browser_page: Callable[..., Session], camera_files: Media, tmp_path: Path,
) -> None:
    session = browser_page(camera_files.no_face, "?lang=en")
    page = session.page
    page.wait_for_selector("#start:enabled", timeout=20_000)
    page.click("#start")
    session.wait_code(FrameCheck.NO_FACE)
    seen = set()
    for _ in range(6):  # three seconds of frames: the prompt stays
        seen.add((codes_shown(session), page.inner_text("#prompt"), session.state()))
        time.sleep(0.5)
    assert seen == {(str(int(FrameCheck.NO_FACE)), "We can't see a face. Look into the camera.", "checking")}
    assert page.is_visible("#prompt")
    stats = session.messages("STATS", session.received)
    assert len(stats) >= 5
    # Development mode sends every score in STATS; the page shows none of them.
    assert '"estimations"' in stats[-1]
    assert visible_scores(page.inner_text("body")) == []
    shot(session, tmp_path, "no-face")
    page.click("#start")  # now "Stop"
    session.wait_state("stopped")
    assert not session.console_errors


def test_selfie_mode_mirrors_the_preview_and_operator_mode_does_not(
    browser_page: Callable[..., Session], camera_files: Media, tmp_path: Path,
) -> None:
    transform = "getComputedStyle(document.querySelector('.vigil-video')).transform"
    session = browser_page(camera_files.real_face)
    page = session.page
    page.wait_for_selector("#start:enabled", timeout=20_000)
    assert page.is_checked("#mode")
    assert page.evaluate(transform) == "matrix(-1, 0, 0, 1, 0, 0)"
    shot(session, tmp_path, "selfie")
    # The toggle by keyboard; its tooltip shows while it has the focus.
    page.focus("#mode")
    assert page.evaluate("getComputedStyle(document.querySelector('#mode-tip')).visibility") == "visible"
    assert "mirrored" in page.inner_text("#mode-tip")
    page.keyboard.press("Space")
    assert not page.is_checked("#mode")
    assert page.evaluate(transform) == "none"
    page.keyboard.press("Space")
    assert page.evaluate(transform) == "matrix(-1, 0, 0, 1, 0, 0)"
    # Zoom in: the preview grows about its centre, still mirrored.
    page.click("#zoom-in")
    assert page.evaluate(transform) == "matrix(-1.25, 0, 0, 1.25, 0, 0)"
    assert page.inner_text("#zoom-level") == "Zoom 1.25\u00d7"
    # A config in operator mode: not mirrored from the start.
    operator = browser_page(camera_files.real_face, "?cn=kiosk")
    operator.page.wait_for_selector("#start:enabled", timeout=20_000)
    assert not operator.page.is_checked("#mode")
    assert operator.page.evaluate(transform) == "none"
    shot(operator, tmp_path, "operator")


def test_the_config_named_in_cn_is_applied(
    browser_page: Callable[..., Session], camera_files: Media, tmp_path: Path,
) -> None:
    session = browser_page(camera_files.no_face, "?cn=kiosk&lang=ru&nonce=rp-n0nce_42")
    page = session.page
    page.wait_for_selector("#start:enabled", timeout=20_000)
    assert page.inner_text("#start") == "Begin the check"
    assert page.evaluate("getComputedStyle(document.querySelector('#start')).backgroundColor") == "rgb(10, 120, 30)"
    assert page.text_content("#mode-tip") == "Operator holds the camera"
    # Strings the config does not replace come in the chosen language.
    assert page.inner_text("h1") == "Проверка лица"
    assert page.inner_text("#zoom-level") == "Масштаб 1\u00d7"
    page.click("#start")
    session.wait_code(FrameCheck.NO_FACE)
    assert page.inner_text("#prompt") == "No face here: look at the lens"
    # What binds the session's token: the config's name (its audience) and the relying party's nonce.
    [connect] = session.messages("CONNECT")
    assert "\nui-config:kiosk\n" in connect
    assert "\nnonce:rp-n0nce_42\n" in connect
    shot(session, tmp_path, "kiosk")
    # An unknown name says so, and nothing starts.
    missing = browser_page(camera_files.no_face, "?cn=no-such-config")
    missing.page.wait_for_selector("#alert:not([hidden])", timeout=10_000)
    assert missing.page.inner_text("#alert") == (
        "This page is not set up: there is no configuration named \u201cno-such-config\u201d.")
    assert missing.page.is_disabled("#start")
    assert missing.state() == "unavailable"
    shot(missing, tmp_path, "unknown-config")


def test_camera_problems_are_shown(
    browser_page: Callable[..., Session], camera_files: Media, tmp_path: Path,
) -> None:
    denied = browser_page(camera_files.real_face, camera_allowed=False)  # the permission prompt is refused
    denied.page.wait_for_selector("#alert:not([hidden])", timeout=20_000)
    assert denied.page.get_attribute("#alert", "data-kind") == "camera-permission-denied"
    assert denied.page.inner_text("#alert").startswith("Camera access was denied.")
    assert denied.page.is_disabled("#start")
    shot(denied, tmp_path, "camera-denied")
    if any(Path("/dev").glob("video*")):
        return  # this machine has a real camera: "no camera" cannot be staged here
    absent = browser_page(None, "?cn=kiosk")
    absent.page.wait_for_selector("#alert:not([hidden])", timeout=20_000)
    assert absent.page.get_attribute("#alert", "data-kind") == "camera-not-found"
    assert absent.page.inner_text("#alert") == "Plug in the kiosk camera"
    shot(absent, tmp_path, "camera-not-attached")


def test_prompt_screenshot(browser_page: Callable[..., Session], camera_files: Media, tmp_path: Path) -> None:
    """A dark picture of a CC0 portrait: the page asks for more light (the README's screenshot)."""
    session = browser_page(camera_files.dark_face, "?lang=en")
    page = session.page
    page.wait_for_selector("#start:enabled", timeout=20_000)
    page.click("#start")
    session.wait_code(FrameCheck.DARK)
    assert page.inner_text("#prompt") == "Too dark. Find a place with more light."
    path = shot(session, tmp_path, "prompt")
    if os.environ.get("UPDATE_SCREENSHOTS"):
        tight = tmp_path / "prompt-main.png"
        page.locator("main").screenshot(path=str(tight))
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(tight) as image:
            image.convert("RGB").quantize(colors=128).save(SCREENSHOT, optimize=True)
    assert path.stat().st_size > 10_000


def ingress_healthy(stack: Stack) -> bool:
    try:
        with urllib.request.urlopen(f"{stack.http_url}/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_a_dropped_connection_resumes_the_same_session(
    browser_page: Callable[..., Session], camera_files: Media, stack: Stack, redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    session = browser_page(camera_files.no_face)
    page = session.page
    page.wait_for_selector("#start:enabled", timeout=20_000)
    page.click("#start")
    session.wait_code(FrameCheck.NO_FACE)
    connected = session.messages("CONNECTED", session.received)
    session_id = connected[0].split("session-id:", 1)[1].split("\n", 1)[0]
    assert "session-id:" not in session.messages("CONNECT")[0]
    client = sync_redis.Redis.from_url(redis_server.url)
    key = Keys(stack.prefix).session(session_id)

    def sessions() -> set[bytes]:
        return set(client.scan_iter(f"{stack.prefix}:session:*"))

    try:
        sessions_before = sessions()
        # The service goes away under the page (the ingress process dies), then comes back.
        stack.kill("ingress")
        session.wait_state("reconnecting", 10)
        assert page.inner_text("#prompt").startswith("Connection lost. Reconnecting (")
        shot(session, tmp_path, "reconnecting")
        frames_before = int(client.hget(key, "frames") or 0)  # type: ignore[arg-type]
        stack.start("ingress")
        deadline = time.monotonic() + 20
        while not ingress_healthy(stack):
            assert time.monotonic() < deadline, stack.logs("ingress")[-2000:]
            time.sleep(0.1)
        session.wait_state("checking", 30)
        session.wait_code(FrameCheck.NO_FACE)
        time.sleep(1)
        connects = session.messages("CONNECT")
        assert len(connects) >= 2
        assert f"\nsession-id:{session_id}\n" in connects[-1]
        # The page's device id (abuse limits): the same on every CONNECT of this browser.
        devices = {line for c in connects for line in c.split("\n") if line.startswith("device-id:")}
        assert len(devices) == 1
        assert len(devices.pop()) == len("device-id:") + 36  # a random UUID
        assert all(f"session-id:{session_id}" in c for c in session.messages("CONNECTED", session.received))
        assert int(client.hget(key, "connections") or 0) == 2  # type: ignore[arg-type]
        assert int(client.hget(key, "frames") or 0) > frames_before  # type: ignore[arg-type]
        assert sessions() == sessions_before  # no new session was opened
        # Gone for good: a bounded number of tries (5, backing off to 5 s), then a clear error.
        stack.kill("ingress")
        session.wait_state("failed", 30)
        assert page.inner_text("#alert") == "We could not reach the service. Check your connection and try again."
        assert page.inner_text("#start") == "Try again"
        assert len(session.messages("CONNECT")) == len(connects)  # every try was refused before CONNECT
        shot(session, tmp_path, "gave-up")
    finally:
        client.close()
        if not ingress_healthy(stack):
            stack.start("ingress")
            deadline = time.monotonic() + 20  # the next test's page loads from it at once
            while not ingress_healthy(stack):
                assert time.monotonic() < deadline, stack.logs("ingress")[-2000:]
                time.sleep(0.1)


def test_a_full_service_is_waited_for_then_the_check_goes_on(
    browser_page: Callable[..., Session], camera_files: Media, tmp_path: Path,
) -> None:
    """ERROR 1020 with retry-after, then close 1013 (what a full ingress answers, as
    tests/test_admission.py shows): the page says so, waits, and connects again by itself."""
    session = browser_page(camera_files.no_face, "?lang=en")
    page = session.page
    connects: list[float] = []

    def service(ws: WebSocketRoute) -> None:
        def on_message(message: str | bytes) -> None:
            text = message if isinstance(message, str) else message.decode()
            if text.startswith("CONNECT\n"):
                connects.append(time.monotonic())
                if len(connects) == 1:
                    ws.send("ERROR\nerror:1020\nretry-after:2\n\n")
                    ws.close(code=1013, reason="overloaded")
                else:
                    ws.send(f"CONNECTED\nsession-id:{uuid.uuid4()}\nversion:1.0\n\n")
            elif text.startswith("FRAME\n"):
                body = '{"isOk":false,"errors":[1],"estimations":{}}'
                ws.send(f"STATS\ncontent-type:application/json\n\n{body}")

        ws.on_message(on_message)

    page.route_web_socket("**/ws", service)
    page.wait_for_selector("#start:enabled", timeout=20_000)
    page.click("#start")
    session.wait_state("waiting", 10)
    assert page.inner_text("#prompt") == "Many people are checking right now. Retrying in 2 s…"
    assert page.inner_text("#start") == "Stop"  # waiting is part of the check: the person can stop it
    shot(session, tmp_path, "waiting")
    session.wait_code(FrameCheck.NO_FACE, 15)
    assert session.state() == "checking"
    assert len(connects) == 2
    assert connects[1] - connects[0] >= 1.9  # the retry-after was honoured
    assert not session.console_errors
