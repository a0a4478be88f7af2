"""``vigil nginx-config``: prints (or writes) the nginx site file for this deployment (docs/tls.md).

Run it with the ingress's ``VIGIL_*`` environment: the body size and the socket timeouts follow
``ingress.max_message_bytes`` and its idle/heartbeat settings, and the upstream addresses default to
``ingress.host:port`` and ``admin.host:port``. Only those two groups are read, so no JWT key or
Redis is needed on the proxy's host.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.nginx_config import Site, render_site
from shared.cli_errors import OneLineParser, validation_summary
from shared.settings import ENV_PREFIX, AdminSettings, IngressSettings

DEFAULTS = Site(server_name="_", certificate=Path("/"), certificate_key=Path("/"))


class FrontSettings(BaseSettings):
    """The two groups of Vigil's settings the proxy depends on; every other ``VIGIL_*`` is ignored."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore",
                                      case_sensitive=False, env_parse_none_str="null")

    ingress: IngressSettings = IngressSettings()
    admin: AdminSettings = AdminSettings()


def add_parser(commands: argparse._SubParsersAction[OneLineParser]) -> None:
    command = commands.add_parser("nginx-config", help="the nginx site file for TLS in front of Vigil (docs/tls.md)")
    command.add_argument("server_name", help="the public host name (or IP address) of the check page")
    command.add_argument("--cert", type=Path, required=True, help="certificate (chain) PEM, absolute path")
    command.add_argument("--key", type=Path, required=True, help="its private key PEM, absolute path")
    command.add_argument("--ingress", default=None, help="HOST:PORT nginx reaches the ingress at "
                         "(default: VIGIL_INGRESS__HOST:VIGIL_INGRESS__PORT)")
    admin = command.add_mutually_exclusive_group()
    admin.add_argument("--admin", default=None, help="HOST:PORT of the admin panel (default: VIGIL_ADMIN__HOST:PORT)")
    admin.add_argument("--no-admin", action="store_true", help="leave the admin panel out of this nginx")
    command.add_argument("--https-port", type=int, default=DEFAULTS.https_port)
    command.add_argument("--http-port", type=int, default=DEFAULTS.http_port, help="redirects to HTTPS")
    command.add_argument("--admin-port", type=int, default=DEFAULTS.admin_port, help="the panel's own TLS port")
    command.add_argument("--out", type=Path, default=None, help="write here instead of standard output")


def run(args: argparse.Namespace) -> int:
    try:
        front = FrontSettings()
    except ValidationError as exc:
        print(f"vigil nginx-config: {validation_summary(exc)}", file=sys.stderr)
        return 2
    admin = None if args.no_admin else args.admin or f"{front.admin.host}:{front.admin.port}"
    site = Site(
        server_name=args.server_name, certificate=args.cert.absolute(), certificate_key=args.key.absolute(),
        ingress=args.ingress or f"{front.ingress.host}:{front.ingress.port}", admin=admin,
        https_port=args.https_port, http_port=args.http_port, admin_port=args.admin_port,
    )
    text = render_site(site, front.ingress)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}; check it with: nginx -t", file=sys.stderr)
    print("set on the ingress and the admin panel: VIGIL_PROXY__TRUSTED='[\"<nginx's address>\"]'", file=sys.stderr)
    return 0
