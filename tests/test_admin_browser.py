"""The admin panel end to end in Debian's headless Chromium (Playwright), against the real
services as processes on a real Redis: the first administrator signs in with the generated
password and changes it, creates a UI config and sees its texts on the check page through "View
site", passes a check with the page's fake camera (real video), opens that finished session's
page and plays its video, then changes a threshold and sees the decider apply it to the next
frames of a session that is running, without a restart.

With ``UPDATE_SCREENSHOTS=1`` the home, UI-config form, settings and statistics screenshots also
replace those in docs/screenshots/ (made from test data only: no real person's face is on them).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image, ImageEnhance

from infra.redis_server import RedisServer, free_port
from shared.errors import FrameCheck
from tests import media
from tests.stack import ROOT, Stack
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, REAL_VIDEO, require_browser, still, video_frames, write_y4m

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SCREENSHOTS = ROOT / "docs" / "screenshots"
FIRST_PASSWORD = re.compile(r"created administrator 'admin' with password (\S+)")
NEW_PASSWORD = "a long enough new password"


@dataclass(frozen=True)
class Panel:
    stack: Stack
    url: str
    password: str  # the generated first password, read from the panel's log


@pytest.fixture(scope="module")
def cameras(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require_browser()
    folder = tmp_path_factory.mktemp("admin-camera")
    real = write_y4m(folder / "real.y4m", video_frames(data_dir / REAL_VIDEO, 490, 620, 2), fps=15)
    portrait: Image.Image = ImageEnhance.Brightness(media.photo(data_dir, media.NEUTRAL_FACE)).enhance(0.25)
    dark = write_y4m(folder / "dark.y4m", [still(portrait)] * 2, fps=5)
    return real, dark


@pytest.fixture(scope="module")
def panel(cameras: tuple[Path, Path], redis_server: RedisServer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Panel]:
    logs = tmp_path_factory.mktemp("admin-stack")
    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", logs, VIGIL_SESSION__AGGREGATE_FRAMES="3",
                  VIGIL_SESSION__MAX_ATTEMPTS="null", VIGIL_SESSION__MAX_LIVENESS_ATTEMPTS="null",
                  VIGIL_VIDEO__CODEC="H264", VIGIL_LIGHT_CHALLENGE__IS_ENABLED="false")
    port = free_port()
    stack.env.update(VIGIL_ADMIN__PORT=str(port), VIGIL_ADMIN__INGRESS_URL=stack.http_url)
    admin_log = logs / "admin.log"
    with admin_log.open("wb") as log:
        admin = subprocess.Popen([sys.executable, "-m", "admin"], env=stack.env, cwd=ROOT, stdout=log,
                                 stderr=subprocess.STDOUT)
    try:
        stack.start_all("ingress", "estimator", "decider", "videobuilder")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while (found := FIRST_PASSWORD.search(admin_log.read_text())) is None or not _healthy(url):
            if admin.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"admin panel not ready: {admin_log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield Panel(stack, url, found.group(1))
    finally:
        admin.terminate()
        admin.wait(10)
        stack.stop()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture
def chromium(cameras: tuple[Path, Path]) -> Iterator[tuple[Browser, Browser, Browser]]:
    """An admin's browser, and two check-page browsers whose cameras play the real and dark videos."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        def launch(camera: Path | None) -> Browser:
            flags = list(CHROMIUM_FLAGS)
            if camera is not None:
                flags += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                          f"--use-file-for-fake-video-capture={camera}"]
            return driver.chromium.launch(executable_path=str(CHROMIUM), args=flags, headless=True)

        browsers = (launch(None), launch(cameras[0]), launch(cameras[1]))
        yield browsers
        for browser in browsers:
            browser.close()


def shot(page: Page, tmp_path: Path, name: str, *, full_page: bool = True) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if os.environ.get("UPDATE_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path.replace(SCREENSHOTS / f"admin-{name}.png")


def sign_in_first_time(page: Page, panel: Panel) -> None:
    page.goto(f"{panel.url}/")
    page.fill('input[name="username"]', "admin")
    page.fill('input[name="password"]', panel.password)
    page.click('main form button')
    # The generated password must be changed before anything else.
    page.wait_for_selector('input[name="new"]')
    page.fill('input[name="current"]', panel.password)
    page.fill('input[name="new"]', NEW_PASSWORD)
    page.fill('input[name="confirm"]', NEW_PASSWORD)
    page.click('main form button')
    page.wait_for_selector("text=Your password has been changed.")


def create_ui_config(page: Page, tmp_path: Path) -> None:
    page.click("nav >> text=UI configs")
    page.click("text=Add config")
    page.fill('input[name="name"]', "lobby")
    page.fill('input[name="success_message"]', "Lobby check done, welcome")
    page.fill('input[name="start_button_text"]', "Start the lobby check")
    shot(page, tmp_path, "ui-config-form")
    page.click("main form button.primary")
    page.wait_for_selector("text=Created lobby.")


@pytest.mark.timeout(300)
def test_admin_end_to_end(panel: Panel, chromium: tuple[Browser, Browser, Browser], tmp_path: Path) -> None:
    admin_browser, real_camera, dark_camera = chromium
    admin = admin_browser.new_page(viewport={"width": 1100, "height": 900})
    sign_in_first_time(admin, panel)
    create_ui_config(admin, tmp_path)

    # "View site" opens the check page with ?cn=lobby (in the browser whose camera plays real video).
    view_site = admin.get_attribute('a:has-text("View site") >> nth=-1', "href") or ""
    assert view_site == f"{panel.stack.http_url}/?cn=lobby"
    check = real_camera.new_page(viewport={"width": 720, "height": 860}, locale="en-US")
    check.goto(view_site)
    check.wait_for_selector("#start:enabled", timeout=20_000)
    assert check.inner_text("#start") == "Start the lobby check"
    check.click("#start")
    check.wait_for_selector('body[data-state="success"]', state="attached", timeout=45_000)
    assert check.inner_text("#success").startswith("Lobby check done, welcome")

    # The finished session's page, with its video (built by the video builder from the frames).
    admin.click("nav >> text=Sessions")
    admin.wait_for_selector("table a.mono")
    admin.click("table a.mono >> nth=0")
    video = admin.wait_for_selector("video.session-video", timeout=30_000)
    assert video is not None
    source = admin.get_attribute("video.session-video", "src") or ""
    served = admin.request.get(f"{panel.url}{source}")
    assert served.status == 200
    assert served.headers["content-type"].startswith("video/")
    assert len(served.body()) > 10_000
    # The page's own player loads it (the panel's CSP allows media from the site itself).
    deadline = time.monotonic() + 15
    ready, length, error = 0, 0.0, None
    while ready < 1 and error is None and time.monotonic() < deadline:
        ready, length, error = admin.eval_on_selector(
            "video.session-video", "v => [v.readyState, v.duration, v.error && v.error.code]")
        time.sleep(0.1)
    assert error is None, f"the player failed with MediaError {error}"
    assert ready >= 1
    assert float(length) > 0.2

    # A running session with a dark face prompts for light (12) and nothing about its size ...
    running = dark_camera.new_page(viewport={"width": 720, "height": 860}, locale="en-US")
    running.goto(f"{panel.stack.http_url}/")
    running.wait_for_selector("#start:enabled", timeout=20_000)
    running.click("#start")
    running.wait_for_selector(f'#prompt[data-codes~="{int(FrameCheck.DARK)}"]', state="attached", timeout=30_000)
    assert str(int(FrameCheck.FACE_TOO_SMALL)) not in (running.get_attribute("#prompt", "data-codes") or "")
    # ... until an administrator raises the minimum face width: the same session's next frames say so.
    admin.click("nav >> text=Settings")
    admin.click("#group-thresholds >> text=Edit")
    admin.fill('input[name="face_width"]', "4000")
    admin.click('main form button[type="submit"]:not([name])')
    admin.wait_for_selector("text=Saved thresholds")
    shot(admin, tmp_path, "settings", full_page=False)
    running.wait_for_selector(f'#prompt[data-codes~="{int(FrameCheck.FACE_TOO_SMALL)}"]', state="attached",
                              timeout=15_000)
    assert all(process.poll() is None for _, process in panel.stack.processes)

    admin.click("nav >> text=Statistics")
    admin.wait_for_selector("svg")
    shot(admin, tmp_path, "statistics")
    admin.click("text=Home")
    assert admin.is_visible("text=default/thresholds")
    shot(admin, tmp_path, "home")
