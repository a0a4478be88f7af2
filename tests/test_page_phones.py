"""The check page on phones, in Debian's Chromium with Playwright's device emulation (a small
Android phone and an iPhone, portrait and landscape) and the fake camera: the picture, the oval
and the buttons fit without scrolling, touch targets are at least 44 x 44 CSS px, selfie mode
asks for the front camera, a tab sent to the background and back goes on with the same session;
and the page's weight and time to its first frame on Chrome DevTools' "Fast 3G" profile.

The service is tests/page_harness.py's stand-in, on a real loopback socket (so the network
emulation applies to the page's files, its JSON and the WebSocket's handshake)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from shared.errors import FrameCheck, SystemCode
from tests import media
from tests.page_harness import (
    Chromium,
    FakeVigil,
    Opened,
    axe_violations,
    chromium_fixture,  # noqa: F401 (the fixture ``chromium``)
    open_context,
    open_page,
    running_vigil,
    stats,
    vigil_fixture,  # noqa: F401 (the fixture ``vigil``)
)
from tests.stack import ROOT
from tests.test_browser import still, write_y4m

pytestmark = pytest.mark.slow

# Small Androids and iPhones, the smallest (iPhone SE, 320 x 568) included.
PHONES = ["Moto G4", "Moto G4 landscape", "iPhone 13", "iPhone 13 landscape", "iPhone SE", "iPhone SE landscape"]
MIN_TARGET_PX = 44
# Chrome DevTools' "Fast 3G" preset (front_end/core/sdk/NetworkManager.ts): 1.6 Mbit/s down and
# 750 kbit/s up, each times 0.9, and 150 ms times 3.75 of latency.
FAST_3G = {"offline": False, "latency": 562.5, "downloadThroughput": 1.6 * 1000 * 1000 / 8 * 0.9,
           "uploadThroughput": 750 * 1000 / 8 * 0.9}
WEIGHT_GOAL_BYTES = 100 * 1024
# Issue 18's goal is a first frame within 3 s. Measured: Start is ready in 1.5-1.7 s (the page,
# then its modules and CSS, gzipped, one round trip each; its config, check settings and messages
# come inside the page) and the first frame, Start pressed at once, ~0.8 s later (the WebSocket's handshake and
# the frame's upload: it goes right behind CONNECT): docs/integration.md, "Measured". The bounds
# catch a gross regression with room for the wall clock of 2 busy cores; a round trip come back
# (a fetch before Start, a FRAME waiting for CONNECTED) is caught by what the test checks besides.
READY_BOUND_S = 2.5
FIRST_FRAME_BOUND_S = 3.5
# What the page may load before Start: itself, its modules and its CSS, nothing fetched.
PAGE_FILES = {"i18n.js", "light.js", "page.js", "style.css", "vigil.js"}
# Records what the page asks getUserMedia for (an init script runs outside the page's CSP), and
# lets a test send the document to the background as a phone's browser does.
INIT = """
window.__cameraAsks = [];
const ask = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = (constraints) => {
  window.__cameraAsks.push(JSON.parse(JSON.stringify(constraints)));
  return ask(constraints);
};
let hidden = false;
Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
window.__setHidden = (value) => {
  hidden = value;
  document.dispatchEvent(new Event("visibilitychange"));
};
"""
# What must stay on screen: the picture, the oval, the Start button and the prompt.
BOXES = """() => {
  const box = (s) => { const r = document.querySelector(s).getBoundingClientRect();
    return { top: r.top, left: r.left, bottom: r.bottom, right: r.right, width: r.width, height: r.height }; };
  return { picture: box('.vigil-viewport'), oval: box('.vigil-oval'), start: box('#start'), prompt: box('#prompt'),
           scroll: [document.documentElement.scrollWidth, document.documentElement.scrollHeight],
           view: [innerWidth, innerHeight] };
}"""
# Every control a finger can use: its box, or for the switch its label's (part of its target).
TARGETS = """() => [...document.querySelectorAll('button, select, input, .mode label')]
  .filter((e) => e.checkVisibility() && !e.closest('[hidden]') && !(e.matches('input') && e.labels.length))
  .map((e) => { const r = e.getBoundingClientRect();
    return { name: e.id || e.getAttribute('for') || e.tagName, width: r.width, height: r.height }; })"""


def phone_page(chromium: Chromium, vigil: FakeVigil, device: str, query: str = "") -> Opened:
    context = open_context(chromium.browser, **chromium.devices[device])
    context.add_init_script(INIT)
    opened = open_page(context, vigil, query)
    opened.page.wait_for_selector("#start:enabled", timeout=15_000)
    return opened


def wait_code(opened: Opened, code: int) -> None:
    opened.page.wait_for_selector(f'#prompt[data-codes~="{code}"]', state="attached", timeout=15_000)


def inside(inner: dict[str, float], outer: tuple[float, float]) -> bool:
    return inner["top"] >= 0 and inner["left"] >= 0 and inner["bottom"] <= outer[1] and inner["right"] <= outer[0]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lang", ["en", "de"])  # German: the longest texts
@pytest.mark.parametrize("device", PHONES)
def test_the_page_fits_the_phone_with_big_targets_and_the_front_camera(
    chromium: Chromium, vigil: FakeVigil, device: str, lang: str, tmp_path: Path,
) -> None:
    opened = phone_page(chromium, vigil, device, f"?lang={lang}")
    page = opened.page
    # Selfie mode (the default config): the front camera.
    asks: list[dict[str, Any]] = page.evaluate("window.__cameraAsks")
    assert asks[0]["video"]["facingMode"] == {"ideal": "user"}, asks
    # The fullest state: an action with its progress below the prompt.
    vigil.replies = lambda _: [stats([FrameCheck.ACTION_YAW_LEFT], done=0, total=2)]
    page.click("#start")
    wait_code(opened, FrameCheck.ACTION_YAW_LEFT)
    boxes = page.evaluate(BOXES)
    # The device's screen, not innerWidth: a phone's browser widens the layout to fit wide content.
    width, height = chromium.devices[device]["viewport"]["width"], chromium.devices[device]["viewport"]["height"]
    assert boxes["view"] == [width, height], boxes
    assert boxes["scroll"][0] <= width, boxes
    assert boxes["scroll"][1] <= height, boxes  # nothing below the fold: no scrolling
    for name in ("picture", "oval", "start", "prompt"):
        assert inside(boxes[name], (width, height)), (name, boxes)
    assert boxes["picture"]["height"] >= 0.3 * min(width, height), boxes  # still a usable picture
    assert not axe_violations(page), device  # the phone layout too: no serious or critical violation
    targets = page.evaluate(TARGETS)
    small = [t for t in targets if t["width"] < MIN_TARGET_PX or t["height"] < MIN_TARGET_PX]
    assert not small, small
    page.screenshot(path=str(tmp_path / f"{device}-{lang}.png"))
    assert not opened.errors


@pytest.mark.timeout(120)
def test_the_background_and_back_resume_the_same_session(chromium: Chromium, vigil: FakeVigil) -> None:
    opened = phone_page(chromium, vigil, "Moto G4")
    page = opened.page
    page.click("#start")
    wait_code(opened, FrameCheck.NO_FACE)
    [session] = set(vigil.sessions)
    # The tab goes to the background: the phone takes the camera back, and the ingress's idle
    # timeout ends the connection (ERROR 1021, close 4006) while no frame comes.
    page.evaluate("""() => { window.__setHidden(true);
      const track = window.vigilChecker.track; track.stop(); track.dispatchEvent(new Event('ended')); }""")
    time.sleep(0.5)
    frames_hidden = len(vigil.messages("FRAME"))
    vigil.drop(4006, error_code=SystemCode.IDLE)
    time.sleep(1.5)
    assert len(vigil.messages("FRAME")) == frames_hidden  # nobody in front of the camera: no frames
    assert len(vigil.messages("CONNECT")) == 1  # nor tries spent while away
    assert page.evaluate("document.body.dataset.state") != "failed"
    # Back: the camera reopens, the same session reconnects and the check goes on.
    page.evaluate("window.__setHidden(false)")
    opened.wait_state("checking")
    deadline = time.monotonic() + 10
    while len(vigil.messages("FRAME")) <= frames_hidden + 2:
        assert time.monotonic() < deadline, vigil.received[-3:]
        time.sleep(0.1)
    connects = vigil.messages("CONNECT")
    assert len(connects) == 2
    assert f"\nsession-id:{session}\n" in connects[1].text
    assert set(vigil.sessions) == {session}
    assert len(page.evaluate("window.__cameraAsks")) == 2  # reopened, the front camera again
    assert page.evaluate("window.vigilChecker.track.readyState") == "live"
    assert page.inner_text("#start") == "Stop"
    assert not [e for e in opened.errors if "camera ended" not in e], opened.errors


@pytest.mark.timeout(120)
def test_weight_and_first_frame_on_fast_3g(chromium: Chromium, vigil: FakeVigil, tmp_path: Path) -> None:
    """Chromium throttles a WebSocket's bytes but adds no latency to its messages (measured here:
    a 15 KB FRAME reaches the service ~180 ms after the page sends it; CONNECTED comes back at
    once): the stand-in sends each of its replies (CONNECTED included) Fast 3G's latency after the
    message it answers, reading the next ones meanwhile."""
    vigil.reply_delay_s = FAST_3G["latency"] / 1000
    context = open_context(chromium.browser, **chromium.devices["Moto G4"])
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send("Network.emulateNetworkConditions", FAST_3G)
    kinds: dict[str, tuple[str, str]] = {}
    sizes: dict[str, float] = {}
    cdp.on("Network.responseReceived", lambda e: kinds.__setitem__(e["requestId"], (e["type"], e["response"]["url"])))
    cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
    started = time.monotonic()
    page.goto(f"{vigil.url}/?lang=en")
    page.wait_for_selector("#start:enabled", timeout=30_000)
    startable = time.monotonic() - started
    page.click("#start")
    deadline = time.monotonic() + 30
    while not vigil.messages("FRAME"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    first_frame = vigil.messages("FRAME")[0].at - started  # its upload (throttled) included
    # It left behind CONNECT, not after CONNECTED came back (that takes the latency).
    behind_connect = vigil.messages("FRAME")[0].at - vigil.messages("CONNECT")[0].at
    frame_bytes = len(vigil.messages("FRAME")[0].text)
    by_kind: dict[str, float] = {}
    for request, (kind, _url) in kinds.items():
        by_kind[kind] = by_kind.get(kind, 0) + sizes.get(request, 0)
        by_kind["all"] = by_kind.get("all", 0) + sizes.get(request, 0)
    code = by_kind.get("Script", 0) + by_kind.get("Stylesheet", 0)
    figures = {"profile": FAST_3G, "js_css_bytes": code, "bytes_by_kind": by_kind,
               "start_enabled_s": round(startable, 2), "first_frame_s": round(first_frame, 2),
               "frame_behind_connect_s": round(behind_connect, 2),
               "first_frame_bytes": frame_bytes, "files": sorted(url.rsplit("/", 1)[1] for _, url in kinds.values())}
    (tmp_path / "fast3g.json").write_text(json.dumps(figures, indent=1))
    print("Fast 3G:", json.dumps(figures))
    assert code < WEIGHT_GOAL_BYTES, figures
    assert {url.rsplit("/", 1)[1].split("?")[0] for _, url in kinds.values()} - {""} == PAGE_FILES, figures
    assert behind_connect < vigil.reply_delay_s, figures
    assert startable < READY_BOUND_S, figures
    assert first_frame < FIRST_FRAME_BOUND_S, figures
    context.close()


@pytest.mark.timeout(120)
def test_on_a_slow_network_the_first_frame_waits_for_the_light_answer(chromium: Chromium, vigil: FakeVigil) -> None:
    """The FRAME behind CONNECT says light:pending and the service, offering the light, drops it
    (docs/protocol.md, "The first FRAME"): nothing more goes while the warning is open, and frames
    go after the answer though that one was never answered."""
    vigil.reply_delay_s = FAST_3G["latency"] / 1000  # CONNECTED comes back after the first FRAME left
    vigil.light = "optional"
    opened = phone_page(chromium, vigil, "Moto G4", "?lang=en")
    page = opened.page
    page.click("#start")
    page.wait_for_selector("dialog.vigil-dialog[open]", timeout=15_000)
    page.wait_for_timeout(1000)
    [first] = vigil.messages("FRAME")
    assert "\nlight:pending\n" in first.text
    assert first.at < vigil.messages("CONNECT")[0].at + vigil.reply_delay_s  # it did not wait for CONNECTED
    page.click('dialog.vigil-dialog button[data-answer="accept"]')
    deadline = time.monotonic() + 15
    while len(vigil.messages("FRAME")) < 3:
        assert time.monotonic() < deadline, vigil.received[-3:]
        time.sleep(0.1)
    assert not [m for m in vigil.messages("FRAME")[1:] if "\nlight:pending\n" in m.text]
    assert not opened.errors


@pytest.mark.timeout(120)
def test_phone_screenshots_in_three_languages(chromium: Chromium, data_dir: Path, tmp_path: Path) -> None:
    """A CC0 portrait as the camera, an action prompt: Spanish, Arabic (right to left) and German
    (the longest texts). ``UPDATE_SCREENSHOTS=1`` also writes docs/screenshots/check-phone-LANG.png."""
    portrait = media.photo(data_dir, media.NEUTRAL_FACE)
    camera = write_y4m(tmp_path / "portrait.y4m", [still(portrait, (480, 640))] * 2, fps=5)
    browser = chromium.launch(camera)
    try:
        with running_vigil() as vigil:
            vigil.replies = lambda _: [stats([FrameCheck.ACTION_YAW_LEFT], done=0, total=2)]
            for lang in ("es", "ar", "de"):
                context = open_context(browser, **chromium.devices["iPhone 13"])
                opened = open_page(context, vigil, f"?lang={lang}")
                opened.page.wait_for_selector("#start:enabled", timeout=15_000)
                opened.page.click("#start")
                wait_code(opened, FrameCheck.ACTION_YAW_LEFT)
                assert opened.page.evaluate("document.documentElement.scrollHeight <= innerHeight")
                opened.page.wait_for_timeout(300)  # the oval's colour settles
                path = tmp_path / f"check-phone-{lang}.png"
                opened.page.screenshot(path=str(path))
                context.close()
                with Image.open(path) as image:
                    assert image.size == (390 * 3, 664 * 3)
                    small = image.convert("RGB").resize((390, 664), Image.Resampling.LANCZOS)
                if os.environ.get("UPDATE_SCREENSHOTS"):
                    small.quantize(colors=128).save(ROOT / "docs" / "screenshots" / path.name, optimize=True)
    finally:
        browser.close()
