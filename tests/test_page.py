"""The check page's server side, without a browser: routes, the static files, UI configs in
Redis (built-in default, stored, unknown, invalid), the `vigil ui-config` command, and the page's
messages covering every code in English and Russian."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from quart import Quart
from redis.asyncio import Redis

from infra.redis_server import RedisServer
from services.ingress.app import create_app
from services.ingress.ui_configs import UiConfigStore
from shared.errors import FrameCheck, SystemCode
from shared.keys import Keys
from shared.settings import Settings
from shared.ui_config import DEFAULT_CONFIG, UiConfig
from tests.test_page_data import block

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "services" / "ingress" / "static"
SESSION_CLOSE_CODES = (4000, 4002, 4003, 4004, 4005, 4007)  # docs/protocol.md: codes that end a session

KIOSK = UiConfig(
    name="kiosk", redirect_url="https://bank.example/after-check", mode="operator",
    success_message="Thank you!", start_button_text="Begin", error_messages={"1": "Face, please"},
    styles="#start { background: rgb(1, 2, 3); }",
)


@pytest.fixture
def app(settings: Settings, redis: Redis) -> Quart:
    return create_app(settings, redis)


@pytest.mark.anyio
async def test_the_page_and_its_modules_are_served(app: Quart) -> None:
    client = app.test_client()
    page = await client.get("/")
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert '<script type="module" src="/static/page.js"></script>' in html
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-eval" not in policy
    for name, kind in [("vigil.js", "javascript"), ("page.js", "javascript"), ("i18n.js", "javascript"),
                       ("light.js", "javascript"),
                       ("style.css", "css")]:
        response = await client.get(f"/static/{name}")
        assert response.status_code == 200, name
        assert kind in response.headers["Content-Type"], (name, response.headers["Content-Type"])


def test_the_library_plays_inline_and_muted_and_sends_the_camera_description() -> None:
    library = (STATIC / "vigil.js").read_text()
    for needle in ('setAttribute("playsinline"', "this.video.muted = true", '"camera-label"', '"camera-settings"',
                   '"user-agent"', '"frame-time"', '"session-id"', "heartbeat", "connectTimeoutMs: 10000"):
        assert needle in library, needle
    # The page shows codes' prompts and progress only: no estimation values reach the DOM.
    page = (STATIC / "page.js").read_text()
    assert "estimations" not in page
    assert "textContent = body" not in page


@pytest.mark.anyio
async def test_default_config_is_built_in_until_one_is_stored(app: Quart, redis: Redis, keys: Keys) -> None:
    client = app.test_client()
    response = await client.get("/api/ui-config/default")
    assert response.status_code == 200
    assert await response.get_json() == DEFAULT_CONFIG.model_dump(mode="json")
    stored = DEFAULT_CONFIG.model_copy(update={"success_message": "All good"})
    await UiConfigStore(redis, keys).put(stored)
    response = await client.get("/api/ui-config/default")
    assert (await response.get_json())["success_message"] == "All good"


@pytest.mark.anyio
async def test_a_stored_config_is_returned_as_the_page_reads_it(app: Quart, redis: Redis, keys: Keys) -> None:
    await UiConfigStore(redis, keys).put(KIOSK)
    response = await app.test_client().get("/api/ui-config/kiosk")
    assert response.status_code == 200
    body = await response.get_json()
    assert body["redirect_url"] == "https://bank.example/after-check"
    assert body["mode"] == "operator"
    assert body["error_messages"] == {"1": "Face, please"}
    assert UiConfig.model_validate(body) == KIOSK


@pytest.mark.anyio
async def test_unknown_config_is_a_404_with_a_clear_message(app: Quart) -> None:
    client = app.test_client()
    response = await client.get("/api/ui-config/no-such-page")
    assert response.status_code == 404
    body = await response.get_json()
    assert body["error"] == "unknown_ui_config"
    assert body["name"] == "no-such-page"
    assert "no UI config named 'no-such-page'" in body["message"]
    assert "vigil ui-config load" in body["message"]
    bad = await client.get("/api/ui-config/bad%20name!")
    assert bad.status_code == 404
    assert "is not a UI config name" in (await bad.get_json())["message"]


@pytest.mark.anyio
async def test_a_corrupt_stored_config_is_reported_not_served(app: Quart, redis: Redis, keys: Keys) -> None:
    await redis.hset(keys.ui_configs, "broken", json.dumps({"name": "broken", "image_width": 1}))  # type: ignore[misc]
    response = await app.test_client().get("/api/ui-config/broken")
    assert response.status_code == 500
    body = await response.get_json()
    assert body["error"] == "invalid_ui_config"
    assert "'broken' is invalid" in body["message"]


@pytest.mark.anyio
async def test_check_settings_give_the_roi_for_the_oval(app: Quart, settings: Settings) -> None:
    response = await app.test_client().get("/api/check-settings")
    body = await response.get_json()
    assert body["roi"] == {"center_x": 0.5, "center_y": 0.5, "width": 1.0, "height": 1.0}
    assert body["faceWidth"] == settings.thresholds.face_width


@pytest.mark.anyio
async def test_the_page_carries_its_config_settings_and_messages(app: Quart, redis: Redis, keys: Keys) -> None:
    """Inlined as a JSON data block (services/ingress/page_data.py): a round trip each saved."""
    await UiConfigStore(redis, keys).put(KIOSK)
    client = app.test_client()
    page = await client.get("/?cn=kiosk&lang=es&nonce=n-1", headers={"Accept-Language": "de"})
    assert page.status_code == 200
    data = block(await page.get_data(as_text=True))
    assert data["lang"] == "es"  # ?lang= first, as page.js
    assert data["messages"] == json.loads((STATIC / "i18n" / "es.json").read_text(encoding="utf-8"))
    assert data["config"] == KIOSK.model_dump(mode="json")
    assert data["settings"] == await (await client.get("/api/check-settings")).get_json()
    # Data, not a script: the policy stays as strict as ever; each language its own answer.
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy.split("script-src", 1)[1].split(";", 1)[0]
    assert page.headers["Cache-Control"] == "no-cache"
    assert "Accept-Language" in page.headers["Vary"]
    chosen = block(await (await client.get("/", headers={"Accept-Language": "zh-TW, de-CH;q=0.8"})).get_data(
        as_text=True))
    assert chosen["lang"] == "de"  # the browser's first language we have: no traditional characters
    assert chosen["config"] == DEFAULT_CONFIG.model_dump(mode="json")


@pytest.mark.anyio
async def test_an_unknown_or_corrupt_config_is_left_to_the_pages_documented_error(
        app: Quart, redis: Redis, keys: Keys) -> None:
    await redis.hset(keys.ui_configs, "broken", json.dumps({"name": "broken", "image_width": 1}))  # type: ignore[misc]
    for name in ("no-such-page", "broken", "bad%20name!"):
        page = await app.test_client().get(f"/?cn={name}")
        assert page.status_code == 200, name
        # No config inlined: page.js fetches /api/ui-config/NAME and shows its 404 (or 500) as before.
        assert "config" not in block(await page.get_data(as_text=True)), name


@pytest.mark.anyio
async def test_the_page_and_its_files_are_gzipped_for_who_takes_it_and_revalidate(app: Quart) -> None:
    client = app.test_client()
    for path in ("/?lang=ru", "/static/vigil.js", "/static/style.css", "/static/i18n/hi.json"):
        plain = await client.get(path)
        packed = await client.get(path, headers={"Accept-Encoding": "gzip, br"})
        assert packed.headers["Content-Encoding"] == "gzip", path
        assert "Accept-Encoding" in packed.headers["Vary"], path
        assert "Content-Encoding" not in plain.headers, path
        body, original = await packed.get_data(as_text=False), await plain.get_data(as_text=False)
        assert gzip.decompress(body) == original, path
        assert int(packed.headers["Content-Length"]) == len(body) < len(original) / 2, path
        # Another encoding of the same content: a weak validator, and a revalidation is a 304.
        etag = packed.headers["ETag"]
        assert etag.startswith("W/"), path
        again = await client.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
        assert again.status_code == 304, path
    assert (await client.get("/static/vigil.js", headers={"Accept-Encoding": "gzip"})).headers[
        "Access-Control-Allow-Origin"] == "*"  # another site's page still imports the library
    assert "Content-Encoding" not in (await client.get("/api/check-settings",
                                                       headers={"Accept-Encoding": "gzip"})).headers


def test_shipped_default_config_file_is_the_built_in_default() -> None:
    shipped = UiConfig.model_validate_json((ROOT / "infra" / "ui_configs" / "default.json").read_text())
    assert shipped == DEFAULT_CONFIG


def cli(redis_server: RedisServer, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env |= {"VIGIL_REDIS__URL": redis_server.url, "VIGIL_REDIS__KEY_PREFIX": prefix}
    return subprocess.run([sys.executable, "-m", "infra.cli", "ui-config", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.anyio
async def test_cli_loads_lists_and_shows_configs(
    app: Quart, redis_server: RedisServer, prefix: str, tmp_path: Path,
) -> None:
    path = tmp_path / "kiosk.json"
    path.write_text(KIOSK.model_dump_json(indent=2))
    loaded = cli(redis_server, prefix, "load", str(path))
    assert loaded.returncode == 0, loaded.stderr
    assert f"loaded UI config 'kiosk' into {prefix}:ui:configs" in loaded.stdout
    renamed = cli(redis_server, prefix, "load", str(path), "--name", "lobby")
    assert renamed.returncode == 0, renamed.stderr
    listed = cli(redis_server, prefix, "list")
    assert listed.stdout.splitlines() == ["kiosk", "lobby", "default (built-in)"]
    shown = cli(redis_server, prefix, "show", "lobby")
    assert json.loads(shown.stdout) == {**KIOSK.model_dump(mode="json"), "name": "lobby"}
    # The page gets what the command stored.
    response = await app.test_client().get("/api/ui-config/kiosk")
    assert UiConfig.model_validate(await response.get_json()) == KIOSK
    missing = cli(redis_server, prefix, "show", "nope")
    assert missing.returncode == 1
    assert "no UI config named 'nope'" in missing.stderr


def test_cli_refuses_an_invalid_config_file(redis_server: RedisServer, prefix: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "styles": "</style><script>alert(1)</script>", "colour": "red"}))
    result = cli(redis_server, prefix, "load", str(path))
    assert result.returncode == 2
    assert "is not a valid UI config" in result.stderr
    assert "styles" in result.stderr
    assert "colour" in result.stderr
    assert cli(redis_server, prefix, "list").stdout.splitlines() == ["default (built-in)"]


def message_keys() -> dict[str, set[str]]:
    """The message keys of each language (static/i18n/LANG.json; tests/test_page_i18n.py checks them all)."""
    return {path.stem: set(json.loads(path.read_text())) for path in (STATIC / "i18n").glob("*.json")}


def test_every_code_has_a_message_in_english_and_russian() -> None:
    languages = message_keys()
    assert set(languages) >= {"en", "ru"}
    codes = {str(int(code)) for code in [*FrameCheck, *SystemCode]} | {f"close.{c}" for c in SESSION_CLOSE_CODES}
    for lang, keys in languages.items():
        assert codes <= keys, (lang, sorted(codes - keys))
    assert languages["en"] == languages["ru"], languages["en"] ^ languages["ru"]
