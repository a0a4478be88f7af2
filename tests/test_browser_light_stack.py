"""The screen-light challenge in a real browser, end to end (docs/protocol.md, "Screen-light
challenge"): the real services with the light challenge on, the camera fed from real media
(tests/test_browser.py's machinery). The page paints the steps the service draws, tags its frames
with them and keeps to the photosensitivity limits; a declined session passes without the light
defence. The page's own timing and limits against a scripted service: tests/test_browser_light.py;
the shared machinery: tests/browser_light_helpers.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from infra.redis_server import RedisServer
from shared.errors import FrameCheck
from shared.tokens import verify_token
from tests.browser_light_helpers import (
    FRAME_MS,
    MAX_PAINT_LATENCY_MS,
    WHITE,
    FakeVigil,
    assert_frames_tagged_with_the_step_on_screen,
    assert_within_the_flash_limits,
    chromium,
    first_arrival,
    playwright_driver,
    record,
    scripted_service,
    start_harness,
    start_page,
    stats_steps,
    warning,
)
from tests.stack import Stack
from tests.test_browser import REAL_VIDEO, Session, require_browser, video_frames, write_y4m

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

pytestmark = pytest.mark.slow

KEY = "browser-light-test-signing-key-" + "x" * 32


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
