"""The check page may be framed only where ``ingress.frame_ancestors`` allows: its headers (CSP
frame-ancestors, X-Frame-Options where it agrees, Permissions-Policy camera, Referrer-Policy), and
in Debian's Chromium an allowed embedder's frame shows the page while another origin's stays empty."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from infra.redis_server import RedisServer
from services.ingress.app import create_app
from shared.settings import IngressSettings, Settings
from tests.stack import Stack
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, require_browser


async def page_response_headers(settings: Settings, redis: Redis, ancestors: list[str]) -> dict[str, str]:
    configured = settings.model_copy(update={"ingress": IngressSettings(frame_ancestors=tuple(ancestors))})
    response = await create_app(configured, redis).test_client().get("/")
    assert response.status_code == 200
    return {name.lower(): value for name, value in response.headers.items()}


@pytest.mark.anyio
async def test_default_page_headers_allow_only_its_own_origin(settings: Settings, redis: Redis) -> None:
    headers = await page_response_headers(settings, redis, ["'self'"])
    assert headers["content-security-policy"].endswith("; frame-ancestors 'self'")
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["permissions-policy"].startswith("camera=(self), ")
    assert headers["referrer-policy"] == "no-referrer"


@pytest.mark.anyio
async def test_listed_origins_and_none(settings: Settings, redis: Redis) -> None:
    listed = await page_response_headers(settings, redis, ["'self'", "https://shop.example", "https://*.bank.example"])
    assert listed["content-security-policy"].endswith(
        "; frame-ancestors 'self' https://shop.example https://*.bank.example")
    assert "x-frame-options" not in listed  # it cannot list origins: left out rather than contradict the CSP
    assert listed["permissions-policy"].startswith('camera=(self "https://shop.example" "https://*.bank.example")')
    nobody = await page_response_headers(settings, redis, ["'none'"])
    assert nobody["content-security-policy"].endswith("; frame-ancestors 'none'")
    assert nobody["x-frame-options"] == "DENY"
    assert nobody["permissions-policy"].startswith("camera=(self), ")  # the page itself keeps its camera


@pytest.mark.parametrize("ancestors", [["'none'", "'self'"], ["shop.example"], ["https://shop.example/path"],
                                       ["javascript:alert(1)"], ["https://a.example; script-src *"], []])
def test_bad_frame_ancestors_are_refused(ancestors: list[str]) -> None:
    with pytest.raises(ValidationError):
        IngressSettings(frame_ancestors=tuple(ancestors))


class Embedder:
    """A real page on its own loopback port (its own origin) that frames the check page."""

    def __init__(self, target: str) -> None:
        html = (f'<!doctype html><title>embedder</title><iframe id="check" src="{target}/" allow="camera" '
                'width="640" height="480"></iframe>').encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def framing(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str, str]]:
    """The ingress alone, framable by one embedder's origin; another embedder that is not listed."""
    require_browser()
    running = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("framing"))
    allowed, refused = Embedder(running.http_url), Embedder(running.http_url)
    running.env["VIGIL_INGRESS__FRAME_ANCESTORS"] = json.dumps(["'self'", allowed.origin])
    running.start_all("ingress")
    yield running, allowed.origin, refused.origin
    running.stop()
    allowed.close()
    refused.close()


def framed_page_loaded(ingress: Stack, embedder: str) -> bool:
    """Open ``embedder``'s page, which has the check page in an iframe: did the frame get it?"""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page()
            with page.expect_response(f"{ingress.http_url}/") as answered:
                page.goto(f"{embedder}/")
            assert answered.value.status == 200  # the ingress answered in both cases; the browser decides
            page.wait_for_load_state("load")
            try:
                page.frame_locator("#check").locator("#start").wait_for(state="attached", timeout=5000)
            except Exception:  # noqa: BLE001  # Playwright's timeout: the frame never got the page
                return False
            return True
        finally:
            browser.close()


def test_chromium_shows_the_page_in_an_allowed_frame_only(framing: tuple[Stack, str, str]) -> None:
    ingress, allowed, refused = framing
    assert framed_page_loaded(ingress, allowed)
    assert not framed_page_loaded(ingress, refused)
