"""The screen-light challenge in a real browser (docs/protocol.md, "Screen-light challenge"): the
page warns first, paints each step the service sends on the next animation frame, keeps to the
photosensitivity limits whatever the service sends, and tags each frame with the step it was
captured under.

This half runs against a scripted LPProto service (tests/browser_light_helpers.py: a
``websockets`` server that also serves the page's files with the ingress's CSP): the page's own
timing and limits, measured inside the page with animation-frame timestamps (an init script
records when each message arrives, when each FRAME leaves, and what the overlay shows at every
animation frame); Chromium's built-in fake camera, no media needed. The other half, end to end
against the real services, is tests/test_browser_light_stack.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from shared.errors import FrameCheck
from tests.browser_light_helpers import (
    BLUE,
    CYAN,
    FRAME_MS,
    GREEN,
    MAGENTA,
    MAX_PAINT_LATENCY_MS,
    WHITE,
    YELLOW,
    Challenge,
    FakeVigil,
    Script,
    assert_frames_tagged_with_the_step_on_screen,
    assert_within_the_flash_limits,
    chromium,
    first_arrival,
    hex_color,
    no_light,
    playwright_driver,
    record,
    scripted_service,
    start_harness,
    start_page,
    stats_steps,
    warning,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

pytestmark = pytest.mark.slow


# ---- what the scripted service sends --------------------------------------------------------------

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


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# ---- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fake() -> Iterator[FakeVigil]:
    yield from scripted_service()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    yield from playwright_driver()


@pytest.fixture
def browser(playwright: Playwright) -> Iterator[Callable[..., Browser]]:
    yield from chromium(playwright)


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
    # Nothing the service takes before the answer: only the first FRAME, sent behind CONNECT while
    # the page could not know of the warning yet, says light:pending, and the service dropped it.
    assert script.frames == []
    assert [frame["light"] for frame in script.dropped] in ([], ["pending"])
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
    assert [frame["light"] for frame in required.dropped] in ([], ["pending"])


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
