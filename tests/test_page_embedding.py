"""The embedding kit (docs/integration.md, docs/examples/): the relying-party examples in Python
(PyJWT) and Node (jose) accept a token Vigil's own signer made for their nonce and refuse the
others; vigil.d.ts type-checks a typed integration (tsc --noEmit); the library's files may be
imported by another origin; and the framework-free example page runs the check from another
origin in Debian's Chromium and hands the JWT to its backend, which verifies it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import jwt
import pytest
from quart import Quart
from redis.asyncio import Redis

from services.decider.signing import SigningKey
from services.ingress.app import create_app
from shared.settings import Settings
from shared.tokens import verify_token
from tests.needs import unavailable

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
NODE_MODULES = ROOT / "node_modules"
KEY = "relying-party-example-key-" + "k" * 32
AUDIENCE = "https://shop.example"
ISSUER = "https://vigil.example"


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("relying_party", EXAMPLES / "relying_party.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def token(nonce: str, *, key: str = KEY, ttl_s: int = 600, now: float | None = None, **claims: Any) -> str:
    """What the decider signs on success (services/decider/signing.py), with the claims it carries."""
    payload = {"isOk": True, "jti": str(uuid.uuid4()), "sid": str(uuid.uuid4()), "aud": AUDIENCE, "iss": ISSUER,
               "nonce": nonce, **claims}
    return SigningKey("HS256", key, None, ttl_s).sign(payload, now=now)


def refused_tokens(nonce: str) -> dict[str, str]:
    good = token(nonce)
    head, body, signature = good.split(".")
    return {
        "another check's nonce": token("someone-elses-nonce"),
        "another audience": token(nonce, aud="https://elsewhere.example"),
        "another key": token(nonce, key="not-the-key-" + "z" * 40),
        "a failed check": token(nonce, isOk=False),
        "expired": token(nonce, ttl_s=60, now=time.time() - 3600),
        "tampered": f"{head}.{body[:-4]}AAAA.{signature}",
        "alg none": jwt.encode({"isOk": True, "nonce": nonce}, key="", algorithm="none"),
    }


def require_node() -> str:
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not (NODE_MODULES / "jose").is_dir() or not (NODE_MODULES / "typescript").is_dir():
        problem = f"{NODE_MODULES} lacks jose/typescript: run `make node` (npm ci)"
    if problem:
        unavailable(problem)
    assert node is not None
    return node


@pytest.mark.timeout(30)
def test_the_python_example_accepts_only_a_passed_check_for_its_nonce() -> None:
    check_token = example().check_token
    nonce = uuid.uuid4().hex
    claims = check_token(token(nonce), key=KEY, nonce=nonce, audience=AUDIENCE, issuer=ISSUER)
    assert claims["nonce"] == nonce
    # It agrees with Vigil's own verifier.
    assert verify_token(token(nonce), key=KEY, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER, nonce=nonce)
    for why, bad in refused_tokens(nonce).items():
        try:
            check_token(bad, key=KEY, nonce=nonce, audience=AUDIENCE, issuer=ISSUER)
        except jwt.InvalidTokenError:
            continue
        pytest.fail(f"the example accepted {why}")


@pytest.mark.e2e  # runs node
@pytest.mark.timeout(60)
def test_the_node_example_accepts_only_a_passed_check_for_its_nonce() -> None:
    node = require_node()
    nonce = uuid.uuid4().hex

    def run(candidate: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [node, str(EXAMPLES / "relying_party.mjs"), candidate, "--nonce", nonce, "--audience", AUDIENCE,
             "--issuer", ISSUER],
            env={"PATH": os.environ.get("PATH", ""), "VIGIL_JWT_KEY": KEY}, capture_output=True, text=True,
            timeout=30, check=False, cwd=ROOT,
        )

    good = token(nonce)
    accepted = run(good)
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["sid"] == jwt.decode(good, options={"verify_signature": False})["sid"]
    for why, bad in refused_tokens(nonce).items():
        refused = run(bad)
        assert refused.returncode == 1, (why, refused.stdout, refused.stderr)
        assert refused.stderr.startswith("refused: "), (why, refused.stderr)


@pytest.mark.e2e  # runs node
@pytest.mark.timeout(90)
def test_the_typescript_declarations_check_a_typed_integration(tmp_path: Path) -> None:
    node = require_node()
    tsc = [node, str(NODE_MODULES / "typescript" / "bin" / "tsc")]
    result = subprocess.run([*tsc, "-p", str(EXAMPLES)], capture_output=True, text=True, timeout=80, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    # And they catch a mistake: a progress event has no `code`.
    wrong = tmp_path / "wrong.ts"
    wrong.write_text(f'import {{ Checker }} from "{ROOT}/services/ingress/static/vigil.js";\n'
                     'new Checker(document.body, "wss://x/ws").on("progress", ({ code }) => code);\n')
    failed = subprocess.run([*tsc, "--noEmit", "--strict", "--target", "ES2022", "--module", "ES2022",
                             "--moduleResolution", "bundler", "--lib", "ES2022,DOM", str(wrong)],
                            capture_output=True, text=True, timeout=80, check=False)
    assert failed.returncode != 0
    assert "Property 'code' does not exist" in failed.stdout


@pytest.mark.anyio
async def test_the_library_may_be_imported_by_another_origin(settings: Settings, redis: Redis) -> None:
    app: Quart = create_app(settings, redis)
    client = app.test_client()
    for path in ("/static/vigil.js", "/static/i18n.js", "/static/light.js", "/static/style.css",
                 "/static/i18n/es.json", "/static/vigil.d.ts"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Access-Control-Allow-Origin"] == "*", path
    page = await client.get("/")
    assert "Access-Control-Allow-Origin" not in page.headers  # the page itself is not for other origins


class RelyingParty:
    """The example page on its own origin, and its backend's POST /api/liveness-result, which
    verifies the token with relying_party.py."""

    def __init__(self, vigil_url: str, nonce: str) -> None:
        html = (EXAMPLES / "embed.html").read_text()
        html = html.replace('content="https://vigil.example"', f'content="{vigil_url}"')
        html = html.replace('data-nonce="NONCE-FROM-YOUR-BACKEND"', f'data-nonce="{nonce}"')
        check_token = example().check_token
        self.verdicts: list[str] = []
        verdicts = self.verdicts

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._send(200, "text/html", html.encode())

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    check_token(body["jwt"], key=KEY, nonce=nonce, audience=AUDIENCE, issuer=ISSUER)
                except jwt.InvalidTokenError as exc:
                    verdicts.append(f"refused: {exc}")
                    self._send(403, "text/plain", b"refused")
                    return
                verdicts.append("verified")
                self._send(200, "text/plain", b"verified")

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                return

        # "localhost", not Vigil's 127.0.0.1: another origin, and still a secure context for the camera.
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def relying_party() -> Iterator[tuple[RelyingParty, str]]:
    # Imported here: a module that imports the browser harness is end-to-end as a whole (conftest).
    from tests.page_harness import running_vigil, stats, success

    nonce = uuid.uuid4().hex
    with running_vigil() as vigil:
        vigil.replies = lambda frame: [stats([1])] if frame < 3 else [success(token(nonce))]
        party = RelyingParty(vigil.url, nonce)
        yield party, vigil.url
        party.close()


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.timeout(90)
def test_the_example_page_runs_the_check_from_another_origin(relying_party: tuple[RelyingParty, str]) -> None:
    from tests.page_harness import launched_chromium, open_context

    party, _ = relying_party
    with launched_chromium() as chromium:
        context = open_context(chromium.browser)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(party.url)
        page.wait_for_selector("#start:enabled", timeout=15_000)
        assert page.evaluate("getComputedStyle(document.querySelector('.vigil-viewport')).borderRadius") == "12px"
        page.click("#start")
        page.wait_for_selector("#prompt:text('Thank you, you are verified.')", timeout=20_000)
        context.close()
    assert party.verdicts == ["verified"]
    assert not errors
