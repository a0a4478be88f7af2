"""TLS in front of Vigil (docs/tls.md): Debian's real nginx with the rendered config in a tmp
prefix on free ports, in front of the real ingress, estimator, decider and admin panel on a real
Redis: ``nginx -t``, HSTS, only TLS 1.2/1.3, HTTP redirected to HTTPS, /metrics and /health not
served, the admin panel on its own TLS port, and a whole check completed over ``wss://`` by the
check page in Chromium. The renderer and the commands alone: tests/test_nginx_config.py.

The certificate is made by ``tls_selfsigned.issue`` and trusted exactly: Python clients load it as
their only CA and verify the host, Chromium trusts its key by SPKI hash (no blanket "ignore errors").
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as sync_redis
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from infra.nginx_config import Site, render_main, render_site
from infra.redis_server import RedisServer, free_port
from infra.tls_selfsigned import issue
from shared.settings import IngressSettings
from tests import media
from tests.needs import unavailable
from tests.stack import ROOT, Stack
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, REAL_VIDEO, require_browser, video_frames, write_y4m

pytestmark = pytest.mark.e2e  # starts nginx and the services

NGINX = Path(os.environ.get("NGINX_PATH", "/usr/sbin/nginx"))
HOST = "127.0.0.1"
CLIENT = "127.0.0.5"  # the person's address as nginx sees it: any loopback address connects locally
SPOOFED = "203.0.113.9"  # what a client writes into X-Forwarded-For itself (TEST-NET-3)
KEY = "nginx-tls-test-signing-key-" + "x" * 32
START_S = 10  # nginx answers on its ports within a fraction of a second; this only bounds a failure
SESSION_S = 60  # test_browser.py's real face reaches SUCCESS in ~15-30 s on this machine




@dataclass(frozen=True)
class Front:
    prefix: Path
    certificate: Path
    https_port: int
    http_port: int
    admin_port: int
    stack: Stack

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.https_port}"

    def context(self) -> ssl.SSLContext:
        """Trusts this test's certificate only, and checks it names the host."""
        return ssl.create_default_context(cafile=str(self.certificate))


def nginx_command(prefix: Path, *extra: str) -> list[str]:
    return [str(NGINX), "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(prefix / "nginx.conf"), *extra]


def wait_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while True:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError as exc:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} is not listening on {port}: {log.read_text(errors='replace')[-2000:]}") \
                    from exc
            time.sleep(0.05)


@pytest.fixture(scope="module")
def camera(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_browser()
    frames = video_frames(data_dir / REAL_VIDEO, 490, 620, 2)
    return write_y4m(tmp_path_factory.mktemp("camera") / "real_face.y4m", frames, fps=15)


@pytest.fixture(scope="module")
def front(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    if not NGINX.is_file():
        unavailable(f"{NGINX} is missing: run infra/install_system.sh as root (make test does)")
    prefix = tmp_path_factory.mktemp("nginx")
    issued = issue(HOST, prefix / "tls")
    # nginx is the only proxy: the services believe its X-Forwarded-For (docs/tls.md).
    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", prefix / "stack", VIGIL_JWT__KEY=KEY,
                  VIGIL_SESSION__AGGREGATE_FRAMES="3", VIGIL_PROXY__TRUSTED=f'["{HOST}"]',
                  VIGIL_ADMIN__PORT=str(free_port()), VIGIL_ADMIN__SECURE_COOKIES="true")
    ports = [free_port() for _ in range(3)]
    site_file = prefix / "vigil.conf"
    site_file.write_text(render_site(Site(
        server_name=HOST, certificate=issued.certificate, certificate_key=issued.key,
        ingress=f"{HOST}:{stack.port}", admin=f"{HOST}:{stack.env['VIGIL_ADMIN__PORT']}",
        https_port=ports[0], http_port=ports[1], admin_port=ports[2]), IngressSettings()))
    # As root, nginx's workers switch to the `user` account; root's own tmp dir is 0700, so they
    # stay root here (a test prefix; production uses the distribution's nginx.conf and its user).
    user = "root" if os.geteuid() == 0 else None
    (prefix / "nginx.conf").write_text(render_main(site_file, prefix, user=user))
    admin_log = (prefix / "admin.log").open("wb")
    admin = subprocess.Popen([sys.executable, "-m", "admin"], env=stack.env, cwd=ROOT, stdout=admin_log,
                             stderr=subprocess.STDOUT)
    nginx: subprocess.Popen[bytes] | None = None
    try:
        stack.start_all()
        nginx = subprocess.Popen(nginx_command(prefix, "-g", "daemon off;"))
        for port in ports:
            wait_port(port, nginx, "nginx", prefix / "error.log")
        wait_port(int(stack.env["VIGIL_ADMIN__PORT"]), admin, "the admin panel", prefix / "admin.log")
        yield Front(prefix, issued.certificate, ports[0], ports[1], ports[2], stack)
    finally:
        if nginx is not None:
            nginx.terminate()  # SIGTERM: nginx's fast shutdown, workers included
            nginx.wait(10)
        admin.terminate()
        admin.wait(10)
        admin_log.close()
        stack.stop()


def get(front: Front, port: int, path: str, *, tls: bool = True) -> http.client.HTTPResponse:
    """One request, redirects not followed."""
    connection: http.client.HTTPConnection = (
        http.client.HTTPSConnection(HOST, port, context=front.context(), timeout=10) if tls
        else http.client.HTTPConnection(HOST, port, timeout=10))
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_nginx_accepts_the_config_and_serves_the_page_with_hsts(front: Front) -> None:
    checked = subprocess.run(nginx_command(front.prefix, "-t"), capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr
    page = get(front, front.https_port, "/")
    assert page.status == 200
    assert page.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]  # the ingress's own headers
    assert get(front, front.https_port, "/static/vigil.js").status == 200
    assert get(front, front.https_port, "/api/check-settings").status == 200


@pytest.mark.slow
def test_http_is_redirected_to_https(front: Front) -> None:
    for port, tls in ((front.http_port, False), (front.https_port, False)):  # the HTTP port; HTTP sent to TLS
        moved = get(front, port, "/?cn=kiosk&nonce=n1", tls=tls)
        assert moved.status == 301
        assert moved.headers["Location"] == f"{front.url}/?cn=kiosk&nonce=n1"


@pytest.mark.slow
def test_metrics_and_health_are_not_served_through_nginx(front: Front) -> None:
    with urllib.request.urlopen(f"{front.stack.http_url}/health", timeout=5) as direct:
        assert direct.status == 200  # the ingress has it: the 404 below is nginx's doing
    for port in (front.https_port, front.admin_port):
        for path in ("/metrics", "/health", "/health/ready", "/health/live", "/%6detrics", "//metrics", "/METRICS"):
            assert get(front, port, path).status == 404, (port, path)


@pytest.mark.slow
def test_only_tls_1_2_and_1_3_are_negotiated(front: Front) -> None:
    def version(context: ssl.SSLContext, port: int) -> str | None:
        with socket.create_connection((HOST, port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname=HOST) as tls:
            return tls.version()

    assert version(front.context(), front.https_port) == "TLSv1.3"
    tls12 = front.context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert version(tls12, front.https_port) == "TLSv1.2"
    assert version(tls12, front.admin_port) == "TLSv1.2"
    legacy = legacy_client(front.certificate)
    # The legacy client does speak TLS 1.1 (a server that allows it gets it), so nginx's refusal
    # below is nginx's: OpenSSL 3 would otherwise refuse on the client side first.
    assert legacy_control_server(legacy, front.prefix / "tls") == "TLSv1.1"
    for port in (front.https_port, front.admin_port):
        with pytest.raises(ssl.SSLError) as refused:
            version(legacy, port)
        assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"  # the server's alert


def legacy_client(certificate: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certificate))
    with warnings.catch_warnings():  # the TLSv1/TLSv1_1 names are deprecated: that is the point here
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 allows TLS < 1.2 only at level 0
    return context


def legacy_control_server(client: ssl.SSLContext, tls_dir: Path) -> str | None:
    """A local TLS server that still allows TLS 1.0/1.1, handshaken once with ``client``."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tls_dir / f"{HOST}.crt", tls_dir / f"{HOST}.key")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server.minimum_version = ssl.TLSVersion.TLSv1
    server.set_ciphers("DEFAULT:@SECLEVEL=0")
    with socket.create_server((HOST, 0)) as listener:
        def accept() -> None:
            peer, _ = listener.accept()
            with server.wrap_socket(peer, server_side=True):
                pass

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        with socket.create_connection(listener.getsockname(), timeout=5) as raw, \
                client.wrap_socket(raw, server_hostname=HOST) as tls:
            negotiated = tls.version()
        thread.join(5)
    return negotiated


@pytest.mark.slow
def test_the_admin_panel_has_its_own_tls_port(front: Front) -> None:
    home = get(front, front.admin_port, "/")
    assert home.status in (302, 303)
    assert home.headers["Location"].endswith("/signin?next=/")
    assert home.headers["Strict-Transport-Security"] == "max-age=31536000"
    signin = get(front, front.admin_port, "/signin")
    assert signin.status == 200
    assert "Secure" in (signin.headers["Set-Cookie"] or "")  # VIGIL_ADMIN__SECURE_COOKIES behind TLS


@pytest.mark.slow
def test_the_services_take_the_client_address_nginx_forwards(front: Front, redis_server: RedisServer) -> None:
    """VIGIL_PROXY__TRUSTED names nginx: a failed sign-in is counted against the address the
    client connected to nginx from (127.0.0.5 here, nginx itself is 127.0.0.1), never against an
    X-Forwarded-For the client wrote itself."""
    def request(method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> tuple[int, str, str]:
        connection = http.client.HTTPSConnection(HOST, front.admin_port, context=front.context(), timeout=10,
                                                 source_address=(CLIENT, 0))
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        text = response.read().decode()
        connection.close()
        return response.status, response.headers.get("Set-Cookie") or "", text

    _, cookie, form = request("GET", "/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token is not None
    body = urllib.parse.urlencode({"username": "nobody", "password": "wrong", "csrf_token": token.group(1)})
    status, _, _ = request("POST", "/signin", body, {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie.split(";", 1)[0],
        "X-Forwarded-For": SPOOFED})
    assert status in (200, 401, 403)  # the form again, with its error
    client = sync_redis.Redis.from_url(redis_server.url)
    try:
        counted = {key.decode().rsplit(":", 1)[1] for key in
                   client.scan_iter(f"{front.stack.prefix}:admin:signin-failures:addr:*")}
    finally:
        client.close()
    assert counted == {CLIENT}


@pytest.mark.slow
def test_vigil_check_speaks_wss_through_nginx(front: Front, data_dir: Path) -> None:
    """docs/tls.md: the CLI client over wss://, trusting the self-signed certificate through
    SSL_CERT_FILE (what Python's default TLS context reads)."""
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", "check", str(data_dir / media.FACE_PHOTO), "--limit", "2",
         "--url", f"wss://{HOST}:{front.https_port}/ws"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
        env={**os.environ, "SSL_CERT_FILE": str(front.certificate)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("session ")
    assert "frame 1: " in done.stdout


def spki_hash(certificate: Path) -> str:
    """Chromium's --ignore-certificate-errors-spki-list entry: base64 SHA-256 of the public key."""
    public = x509.load_pem_x509_certificate(certificate.read_bytes()).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_check_completes_over_wss_in_chromium(front: Front, camera: Path) -> None:
    from playwright.sync_api import WebSocket, sync_playwright

    flags = [*CHROMIUM_FLAGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-video-capture={camera}",
             f"--ignore-certificate-errors-spki-list={spki_hash(front.certificate)}"]
    sockets: list[str] = []
    received: list[str] = []
    errors: list[str] = []

    def on_socket(socket_: WebSocket) -> None:
        sockets.append(socket_.url)
        socket_.on("framereceived", lambda payload: received.append(str(payload)))

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=flags, headless=True)
        try:
            page = browser.new_page(viewport={"width": 720, "height": 860}, locale="en-US")
            page.on("websocket", on_socket)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{front.url}/?lang=en")
            assert page.evaluate("window.isSecureContext") is True
            page.wait_for_selector("#start:enabled", timeout=20_000)
            started = time.monotonic()
            page.click("#start")
            page.wait_for_selector('body[data-state="success"]', state="attached", timeout=SESSION_S * 1000)
            took = time.monotonic() - started
        finally:
            browser.close()
    assert sockets == [f"wss://{HOST}:{front.https_port}/ws"]
    success = [m for m in received if m.startswith("SUCCESS\n")]
    assert len(success) == 1
    assert success[0].split("\n\n", 1)[1].count(".") == 2  # the JWT
    assert not errors
    access = (front.prefix / "access.log").read_text()
    assert '"GET /ws HTTP/1.1" 101 ' in access  # upgraded by nginx, not reached around it
    frames = sum(1 for m in received if m.startswith(("STATS\n", "SUCCESS\n", "ERROR\n")))
    print(f"check over wss through nginx: SUCCESS after {took:.1f} s, {frames} replies")
