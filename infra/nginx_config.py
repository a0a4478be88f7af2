"""The nginx configuration in front of Vigil, rendered from the templates in ``infra/nginx/``
(docs/tls.md): what the operator fills (server name, certificate, upstream addresses, ports) is
checked here, and what follows from Vigil's settings (body size, socket timeouts) is computed from
them, so the proxy and the ingress cannot disagree.

Placeholders are ``{{ name }}``: nginx's own ``$variables`` and braces stay as they are. A value is
refused when it could break out of its directive (whitespace, ``;``, braces, quotes).
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from pathlib import Path

from shared.errors import ConfigError
from shared.settings import IngressSettings

TEMPLATES = Path(__file__).parent / "nginx"
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
# A path or name inside one directive: nothing that ends it, opens a block or starts a comment.
UNSAFE = re.compile(r"[\s;{}'\"#$\\]")
UPSTREAM = re.compile(r"^(\[[0-9a-f:.]+\]|[a-z0-9.-]+|unix:/[^\s;{}]+):?(\d{1,5})?$", re.IGNORECASE)
SERVER_NAME = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$|^_$", re.IGNORECASE)
# The ingress closes a quiet socket after its idle timeout plus up to a second of its idle check
# (services/ingress/connection.py, IDLE_CHECK_S) and the close handshake: nginx waits this much more.
SOCKET_MARGIN_S = 10
# ingress.idle_timeout_s = null: the ingress never closes a quiet session; nginx then does after an
# hour (the page reconnects and resumes the session with its id).
NO_IDLE_LIMIT_S = 3600
HTTP_TIMEOUT_S = 60  # page, static files, /api/*: answered in well under a second
ADMIN_MAX_BODY_BYTES = 1024 * 1024  # = the panel's MAX_CONTENT_LENGTH (admin/app.py)
# One year, the value HSTS preload lists ask for; no includeSubDomains: the operator's other hosts
# under the same domain are not ours to force onto HTTPS.
HSTS_MAX_AGE_S = 365 * 24 * 3600


@dataclass(frozen=True)
class Site:
    """What the operator fills in. ``ingress``/``admin``: ``host:port`` as nginx reaches them
    (or ``unix:/path``); ``admin`` None leaves the panel out of this nginx."""

    server_name: str
    certificate: Path
    certificate_key: Path
    ingress: str = "127.0.0.1:8321"
    admin: str | None = "127.0.0.1:8322"
    https_port: int = 443
    http_port: int = 80
    admin_port: int = 8443
    hsts_max_age_s: int = HSTS_MAX_AGE_S


def socket_timeout_s(ingress: IngressSettings) -> int:
    """How long /ws may stay silent in both directions before nginx closes it: longer than any
    silence the ingress itself allows (before CONNECT, between heartbeats, awaiting a reply,
    between frames)."""
    idle = ingress.idle_timeout_s if ingress.idle_timeout_s is not None else NO_IDLE_LIMIT_S
    longest = max(ingress.connect_timeout_s, idle, ingress.reply_timeout_s, ingress.max_heartbeat_ms / 1000)
    return math.ceil(longest) + SOCKET_MARGIN_S


def render_site(site: Site, ingress: IngressSettings) -> str:
    """The site file (nginx's http context): redirect, TLS server for the page, the admin's."""
    _check(site)
    ports = {site.https_port, site.http_port} | ({site.admin_port} if site.admin else set())
    if len(ports) != (3 if site.admin else 2):
        raise ConfigError("the HTTP, HTTPS and admin ports must differ")
    idle = ingress.idle_timeout_s
    values = {
        "server_name": site.server_name, "certificate": str(site.certificate),
        "certificate_key": str(site.certificate_key), "ingress": site.ingress, "admin": site.admin or "",
        "https_port": str(site.https_port), "http_port": str(site.http_port), "admin_port": str(site.admin_port),
        "https_port_suffix": "" if site.https_port == 443 else f":{site.https_port}",
        "hsts_max_age_s": str(site.hsts_max_age_s), "client_max_body_size": str(ingress.max_message_bytes),
        "socket_timeout_s": str(socket_timeout_s(ingress)), "http_timeout_s": str(HTTP_TIMEOUT_S),
        "admin_max_body_size": str(ADMIN_MAX_BODY_BYTES),
        "quiet_rule": f"no FRAME for {idle:g} s: ingress.idle_timeout_s" if idle is not None
        else "never: ingress.idle_timeout_s is null",
    }
    text = fill((TEMPLATES / "vigil.conf.template").read_text(encoding="utf-8"), values)
    if site.admin:
        text += "\n" + fill((TEMPLATES / "vigil-admin.conf.template").read_text(encoding="utf-8"), values)
    return text


def render_main(site_file: Path, prefix: Path, *, user: str | None = None, workers: int = 1) -> str:
    """A whole nginx.conf including ``site_file``, everything it writes under ``prefix``; ``user``:
    the workers' account when nginx starts as root (they must read what is under ``prefix``)."""
    for path in (site_file, prefix):
        _safe(str(path), "path")
    if user is not None:
        _safe(user, "user")
    return fill((TEMPLATES / "nginx.conf.template").read_text(encoding="utf-8"), {
        "user_directive": f"user {user};" if user else "", "workers": str(workers),
        "worker_connections": "1024", "prefix": str(prefix), "site": str(site_file),
    })


def fill(template: str, values: dict[str, str]) -> str:
    """Replaces every ``{{ name }}``; a name without a value is a bug in the caller: ``KeyError``."""
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def _check(site: Site) -> None:
    if not SERVER_NAME.match(site.server_name) and not _is_address(site.server_name):
        raise ConfigError(f"server name {site.server_name!r} is not a host name or IP address")
    for path, what in ((site.certificate, "certificate"), (site.certificate_key, "certificate key")):
        _safe(str(path), what)
        if not path.is_absolute():
            raise ConfigError(f"the {what} path {path} must be absolute (nginx reads it from its own directory)")
    for address, what in ((site.ingress, "ingress"), (site.admin, "admin")):
        if address is not None and not UPSTREAM.match(address):
            raise ConfigError(f"{what} address {address!r} is not host:port or unix:/path")
    for port in (site.https_port, site.http_port, site.admin_port):
        if not 1 <= port <= 65535:
            raise ConfigError(f"port {port} is not 1-65535")


def _safe(value: str, what: str) -> str:
    if not value or UNSAFE.search(value):
        raise ConfigError(f"{what} {value!r} cannot go into nginx's configuration (whitespace, ; {{ }} # $ or quotes)")
    return value


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
