"""The check page's accessibility measured in Debian's Chromium: axe-core (npm, pinned by
package-lock.json, served to the page from the same origin so that its CSP stays as it is) finds
no serious or critical violation in any state of the page, in the light and the dark theme;
every text has a contrast of at least 4.5:1 (stricter than axe's 3:1 for large text); prompts
are spoken by a live region; the page works from the keyboard with a visible focus; reduced
motion is respected; Arabic is laid out right to left.

The service is tests/page_harness.py's stand-in (scripted replies), the camera Chromium's fake."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.errors import FrameCheck
from tests.page_harness import (
    AXE,
    Chromium,
    FakeVigil,
    Opened,
    axe_violations,
    chromium_fixture,  # noqa: F401 (the fixture ``chromium``)
    open_context,
    open_page,
    ready,
    stats,
    success,
    vigil_fixture,  # noqa: F401 (the fixture ``vigil``)
)

pytestmark = pytest.mark.slow

# Every visible text against what is behind it (composited up the tree), as WCAG computes it.
CONTRAST = """() => {
  const rgba = (value) => (value.match(/[\\d.]+/g) || ["0", "0", "0", "0"]).map(Number).concat([1]).slice(0, 4);
  const over = (top, under) => top.slice(0, 3).map((c, i) => c * top[3] + under[i] * (1 - top[3])).concat([1]);
  const lum = ([r, g, b]) => [r, g, b].map((c) => c / 255)
    .map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (element) => {
    const layers = [];
    for (let node = element; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      layers.push([rgba(style.backgroundColor), Number(style.opacity)]);
    }
    let colour = [255, 255, 255, 1];
    for (const [layer] of layers.reverse()) colour = over(layer, colour);
    return colour;
  };
  const found = [];
  for (const element of document.querySelectorAll("main *, dialog *")) {
    const text = [...element.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    if (!text || element.closest("[hidden]") || element.disabled || !element.checkVisibility()) continue;
    const style = getComputedStyle(element);
    const back = background(element);
    const fore = over(rgba(style.color), back);
    const [a, b] = [lum(fore), lum(back)].sort((x, y) => y - x);
    found.push({ element: element.id || element.tagName.toLowerCase(), text: text.slice(0, 40),
                 ratio: Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100 });
  }
  return found;
}"""
# The focus ring of the focused element.
FOCUS_RING = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  return { id: element.id || element.dataset.answer || element.tagName, style: style.outlineStyle,
           width: parseFloat(style.outlineWidth), visible: element.matches(":focus-visible") };
}"""


def wait_code(opened: Opened, code: int) -> None:
    opened.page.wait_for_selector(f'#prompt[data-codes~="{code}"]', state="attached", timeout=15_000)


def low_contrast(opened: Opened) -> list[dict[str, Any]]:
    texts: list[dict[str, Any]] = opened.page.evaluate(CONTRAST)
    assert texts, "no text measured"
    return [text for text in texts if text["ratio"] < 4.5]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_axe_violation_and_contrast_in_every_state(
    chromium: Chromium, vigil: FakeVigil, scheme: str, tmp_path: Path,
) -> None:
    found: dict[str, list[dict[str, Any]]] = {}
    contrast: dict[str, list[dict[str, Any]]] = {}

    def measure(state: str, opened: Opened) -> None:
        found[state] = axe_violations(opened.page)
        contrast[state] = low_contrast(opened)

    context = open_context(chromium.browser, color_scheme=scheme)
    page = ready(open_page(context, vigil))
    measure("idle", page)
    vigil.replies = lambda _: [stats([FrameCheck.NO_FACE])]
    page.page.click("#start")
    wait_code(page, FrameCheck.NO_FACE)
    measure("prompting", page)
    vigil.replies = lambda _: [stats([FrameCheck.ACTION_YAW_LEFT], done=0, total=2)]
    wait_code(page, FrameCheck.ACTION_YAW_LEFT)
    assert page.page.is_visible("#progress")
    measure("action", page)
    vigil.replies = lambda _: [success()]
    page.wait_state("success")
    measure("success", page)

    vigil.replies = lambda _: [stats([FrameCheck.NO_FACE]), 4003]  # the session ends: the error state
    failed = ready(open_page(context, vigil))
    failed.page.click("#start")
    failed.wait_state("failed")
    assert failed.page.is_visible("#alert")
    measure("error", failed)

    vigil.light, vigil.replies = "optional", lambda _: [stats([FrameCheck.LIGHT_HOLD_STILL])]
    consent = ready(open_page(context, vigil))
    consent.page.click("#start")
    consent.page.wait_for_selector("dialog.vigil-dialog[open]", timeout=15_000)
    measure("light consent", consent)
    vigil.light = None

    arabic = ready(open_page(context, vigil, "?lang=ar"))
    measure("idle, Arabic (rtl)", arabic)

    denied_context = open_context(chromium.browser, camera=False, color_scheme=scheme)
    denied = open_page(denied_context, vigil)
    denied.page.wait_for_selector("#alert:not([hidden])", timeout=15_000)
    assert denied.page.get_attribute("#alert", "data-kind") == "camera-permission-denied"
    measure("camera denied", denied)
    context.close()
    denied_context.close()

    (tmp_path / f"axe-{scheme}.json").write_text(json.dumps({"axe": found, "contrast": contrast}, indent=1))
    print(f"axe {AXE.parent.name} ({scheme}):", {state: len(v) for state, v in found.items()})
    assert all(not violations for violations in found.values()), found
    assert all(not texts for texts in contrast.values()), contrast


@pytest.mark.timeout(90)
def test_prompts_are_spoken_by_a_live_region(chromium: Chromium, vigil: FakeVigil) -> None:
    context = open_context(chromium.browser)
    opened = ready(open_page(context, vigil))
    prompt = opened.page.locator("#prompt")
    assert prompt.get_attribute("aria-live") == "polite"
    assert prompt.get_attribute("role") == "status"
    assert opened.page.get_attribute("#alert", "role") == "alert"
    vigil.replies = lambda _: [stats([FrameCheck.ACTION_YAW_LEFT], done=0, total=2)]
    opened.page.click("#start")
    wait_code(opened, FrameCheck.ACTION_YAW_LEFT)
    # What a screen reader hears: the region's accessible text, the action in plain words.
    assert prompt.inner_text() == "Slowly turn your head to your left."
    snapshot = opened.page.locator("main").aria_snapshot()
    assert 'status: Slowly turn your head to your left.' in snapshot, snapshot
    assert not opened.errors
    context.close()


@pytest.mark.timeout(90)
def test_the_keyboard_runs_the_check_with_a_visible_focus(chromium: Chromium, vigil: FakeVigil) -> None:
    context = open_context(chromium.browser)
    opened = ready(open_page(context, vigil))
    page = opened.page
    rings = []
    for _ in range(3):  # Start, the selfie switch, zoom in (zoom out is disabled at 1x)
        page.keyboard.press("Tab")
        rings.append(page.evaluate(FOCUS_RING))
    assert [ring["id"] for ring in rings] == ["start", "mode", "zoom-in"]
    assert all(r["visible"] and r["style"] != "none" and r["width"] >= 2 for r in rings), rings
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # Start
    opened.wait_state("checking")
    page.keyboard.press("Enter")  # the same button is now Stop
    opened.wait_state("stopped")
    # The light warning takes the focus and answers Escape with the check without colours.
    vigil.light = "optional"
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog.vigil-dialog[open]", timeout=15_000)
    ring = page.evaluate(FOCUS_RING)
    assert ring["id"] == "accept"
    assert ring["style"] != "none", ring
    assert ring["width"] >= 2, ring
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog.vigil-dialog", state="detached", timeout=5_000)
    opened.wait_state("checking")
    assert not opened.errors
    context.close()


@pytest.mark.timeout(90)
def test_reduced_motion_stops_the_transitions_and_puts_the_calm_choice_first(
    chromium: Chromium, vigil: FakeVigil,
) -> None:
    durations = ("() => ['.vigil-oval', '.tooltip']"
                 ".map((s) => getComputedStyle(document.querySelector(s)).transitionDuration)")
    context = open_context(chromium.browser, reduced_motion="reduce")
    opened = ready(open_page(context, vigil))
    assert opened.page.evaluate(durations) == ["0s", "0s"]
    vigil.light = "optional"
    opened.page.click("#start")
    opened.page.wait_for_selector("dialog.vigil-dialog[open]", timeout=15_000)
    first = opened.page.locator(".vigil-dialog-buttons button:visible").first
    assert first.get_attribute("data-answer") == "decline"
    assert opened.page.evaluate("document.activeElement.dataset.answer") == "decline"
    context.close()
    moving = open_context(chromium.browser, reduced_motion="no-preference")
    assert ready(open_page(moving, vigil)).page.evaluate(durations) != ["0s", "0s"]
    moving.close()


@pytest.mark.timeout(90)
def test_arabic_is_laid_out_right_to_left(chromium: Chromium, vigil: FakeVigil) -> None:
    order = "() => ['#start', '.zoom'].map((s) => document.querySelector(s).getBoundingClientRect().left)"
    context = open_context(chromium.browser, locale="ar")
    arabic = ready(open_page(context, vigil))  # chosen by the browser's language
    page = arabic.page
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
    assert page.inner_text("h1") == "التحقق من الوجه"
    assert page.evaluate("getComputedStyle(document.querySelector('main')).direction") == "rtl"
    start, zoom = page.evaluate(order)
    assert start > zoom  # the first control sits on the right
    assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    english = ready(open_page(context, vigil, "?lang=en"))
    assert english.page.evaluate("document.documentElement.dir") == "ltr"
    start, zoom = english.page.evaluate(order)
    assert start < zoom
    # The light warning (outside <main>) follows the page's direction.
    vigil.light = "optional"
    page.click("#start")
    page.wait_for_selector("dialog.vigil-dialog[open]", timeout=15_000)
    assert page.evaluate("document.querySelector('dialog.vigil-dialog').dir") == "rtl"
    assert not arabic.errors
    context.close()


@pytest.mark.timeout(120)
def test_a_check_whose_actions_ran_out_of_time_offers_one_with_more_time(chromium: Chromium,
                                                                         vigil: FakeVigil) -> None:
    """WCAG 2.2.1: after a session ended on timed-out actions (code 97, then close 4000), the page
    offers a new check whose CONNECT asks for twice the time; any other ending offers nothing."""
    context = open_context(chromium.browser)
    try:
        vigil.replies = lambda _: [stats([FrameCheck.NO_FACE]), 4003]
        other = ready(open_page(context, vigil))
        other.page.click("#start")
        other.wait_state("failed")
        assert other.page.is_hidden("#more-time")

        vigil.replies = lambda _: [stats([FrameCheck.ACTION_TIMED_OUT, FrameCheck.ACTION_BLINK]), 4000]
        page = ready(open_page(context, vigil))
        page.page.click("#start")
        page.wait_state("failed")
        page.page.wait_for_selector("#more-time:not([hidden])", timeout=15_000)
        assert not axe_violations(page.page)
        assert not low_contrast(page)
        vigil.replies = lambda _: [stats([FrameCheck.ACTION_BLINK])]
        page.page.click("#more-time")
        wait_code(page, FrameCheck.ACTION_BLINK)
        connects = [m.text for m in vigil.messages("CONNECT")]
        assert "time-scale:" not in connects[-2]
        assert "time-scale:2\n" in connects[-1]
        assert page.page.is_hidden("#more-time")
    finally:
        context.close()
