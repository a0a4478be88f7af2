"""The nginx config renderer, `vigil nginx-config` and `vigil tls-selfsigned`, without starting
nginx (the real nginx in front of the services: tests/test_nginx_tls.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from infra.nginx_config import NO_IDLE_LIMIT_S, SOCKET_MARGIN_S, Site, render_site, socket_timeout_s
from infra.tls_selfsigned import issue
from shared.errors import ConfigError
from shared.settings import IngressSettings
from tests.stack import ROOT

# ---- fast: the renderer ----------------------------------------------------------------------

def site(tmp_path: Path, **changes: object) -> Site:
    fields: dict[str, object] = {"server_name": "vigil.example", "certificate": tmp_path / "c.crt",
                                 "certificate_key": tmp_path / "c.key", **changes}
    return Site(**fields)  # type: ignore[arg-type]


def test_the_rendered_site_follows_the_ingress_settings(tmp_path: Path) -> None:
    ingress = IngressSettings(max_message_bytes=2 * 1024 * 1024, idle_timeout_s=90, max_heartbeat_ms=30_000)
    text = render_site(site(tmp_path), ingress)
    assert "{{" not in text
    assert "client_max_body_size 2097152;" in text
    assert f"proxy_read_timeout {90 + SOCKET_MARGIN_S}s;" in text  # longer than the ingress's own idle close
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert "SSLv3" not in text.replace("not SSLv3", "")
    assert 'add_header Strict-Transport-Security "max-age=31536000" always;' in text
    assert "return 301 https://$host$request_uri;" in text  # port 443: no port in the redirect
    assert "location ~* ^/(metrics|health)(/|$)" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert "server 127.0.0.1:8322;" in text  # the admin panel's own TLS server
    assert text.count("listen 8443 ssl;") == 1
    without_admin = render_site(site(tmp_path, admin=None, https_port=8443), ingress)
    assert "vigil_admin" not in without_admin
    assert "return 301 https://$host:8443$request_uri;" in without_admin


def test_socket_timeout_outlasts_every_silence_the_ingress_allows() -> None:
    assert socket_timeout_s(IngressSettings()) == 120 + SOCKET_MARGIN_S
    assert socket_timeout_s(IngressSettings(idle_timeout_s=None)) == NO_IDLE_LIMIT_S + SOCKET_MARGIN_S
    assert socket_timeout_s(IngressSettings(idle_timeout_s=5, max_heartbeat_ms=60_000)) == 60 + SOCKET_MARGIN_S


@pytest.mark.parametrize(("changes", "message"), [
    ({"server_name": "vigil.example; include /etc/shadow"}, "not a host name"),
    ({"certificate": Path("relative.crt")}, "must be absolute"),
    ({"certificate_key": Path("/etc/a key.pem")}, "cannot go into nginx"),
    ({"ingress": "127.0.0.1:8321; }"}, "ingress address"),
    ({"admin_port": 443}, "must differ"),
])
def test_the_renderer_refuses_what_would_break_the_config(tmp_path: Path, changes: dict[str, object],
                                                          message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        render_site(site(tmp_path, **changes), IngressSettings())


def vigil(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, env={**clean, **(env or {})})


@pytest.mark.e2e  # runs `vigil nginx-config`
def test_nginx_config_command_reads_only_the_ingress_and_admin_settings() -> None:
    """No JWT key, no Redis on the proxy's host: production mode with just the ingress's settings."""
    env = {"VIGIL_ENV": "production", "VIGIL_INGRESS__MAX_MESSAGE_BYTES": "1048576",
           "VIGIL_INGRESS__PORT": "9321", "VIGIL_INGRESS__IDLE_TIMEOUT_S": "null"}
    done = vigil("nginx-config", "vigil.example", "--cert", "/c.crt", "--key", "/c.key", "--no-admin", env=env)
    assert done.returncode == 0, done.stderr
    assert "client_max_body_size 1048576;" in done.stdout
    assert "server 127.0.0.1:9321;" in done.stdout
    assert f"proxy_read_timeout {NO_IDLE_LIMIT_S + SOCKET_MARGIN_S}s;" in done.stdout
    assert "vigil_admin" not in done.stdout
    assert "VIGIL_PROXY__TRUSTED" in done.stderr
    wrong = vigil("nginx-config", "bad name", "--cert", "/c.crt", "--key", "/c.key")
    assert (wrong.returncode, wrong.stderr) == (1, "vigil nginx-config: server name 'bad name' is not a host name "
                                                   "or IP address\n")
    invalid = vigil("nginx-config", "vigil.example", "--cert", "/c.crt", "--key", "/c.key",
                    env={"VIGIL_INGRESS__MAX_MESSAGE_BYTES": "12"})
    assert invalid.returncode == 2
    assert invalid.stderr.startswith("vigil nginx-config: ingress.max_message_bytes")


# ---- fast: vigil tls-selfsigned ----------------------------------------------------------------

@pytest.mark.parametrize(("host", "kind", "value"), [
    ("vigil.example", x509.DNSName, "vigil.example"), ("10.1.2.3", x509.IPAddress, "10.1.2.3"),
    ("[::1]", x509.IPAddress, "::1"),
])
def test_selfsigned_names_the_host_and_keeps_its_key_private(tmp_path: Path, host: str, kind: type[x509.GeneralName],
                                                             value: str) -> None:
    issued = issue(host, tmp_path / "tls", days=30)
    certificate = x509.load_pem_x509_certificate(issued.certificate.read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(name.value) for name in names if isinstance(name, kind)] == [value]
    assert issued.key.stat().st_mode & 0o777 == 0o600
    key = serialization.load_pem_private_key(issued.key.read_bytes(), password=None)
    assert key.public_key() == certificate.public_key()
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert 30 <= lifetime.days <= 31


@pytest.mark.e2e  # runs `vigil tls-selfsigned`
def test_selfsigned_refuses_bad_input_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a host name"):
        issue("bad host", tmp_path)
    with pytest.raises(ConfigError, match="no port"):
        issue("vigil.example:443", tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="cannot create"):
        issue("vigil.example", blocker / "tls")
    with pytest.raises(ConfigError, match="--days"):
        issue("vigil.example", tmp_path, days=0)
    done = vigil("tls-selfsigned", "vigil.example", "--out", str(blocker / "tls"))
    assert done.returncode == 1
    assert done.stderr.startswith("vigil tls-selfsigned: cannot create ")
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1
