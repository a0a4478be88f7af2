"""``vigil tls-selfsigned HOST``: a key and a self-signed certificate for trying Vigil behind nginx
over TLS (the baseline guide's start_selfsigned.sh; docs/tls.md). Not for production: browsers
warn about it until it is trusted by hand; a real deployment uses a CA's certificate.

The key is EC P-256 (every current browser and nginx accept it; it is made in milliseconds where
RSA-2048 takes a noticeable time on a small machine), written with mode 0600. The certificate names
HOST in its SubjectAltName (browsers read only that, never the CN) as a DNS name or an IP address.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.cli_errors import OneLineParser
from shared.errors import ConfigError

DEFAULT_DAYS = 365  # as the guide's openssl command
MAX_DAYS = 3650  # a test certificate living longer than ten years is a mistake, not a choice
KEY_MODE = 0o600  # the private key: its owner only (nginx's master reads it as root)
# RFC 1123 host name labels: letters, digits, inner hyphens, 63 characters at most each.
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)
MAX_NAME = 253
CLOCK_SKEW = datetime.timedelta(minutes=5)  # valid from a little before now: clients' clocks drift


@dataclass(frozen=True)
class Issued:
    certificate: Path
    key: Path


def subject_name(host: str) -> x509.GeneralName:
    """HOST as SubjectAltName: an IP address, or a DNS name; ``ConfigError`` says why not."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]  # "[::1]" as written in URLs
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        pass  # not an address: a DNS name then
    name = text.rstrip(".").lower()
    if ":" in name or "/" in name:
        raise ConfigError(f"{host!r} is not a host name or IP address (give the host alone, no port or scheme)")
    if not name or len(name) > MAX_NAME or not all(LABEL.match(label) for label in name.split(".")):
        raise ConfigError(f"{host!r} is not a host name or IP address")
    return x509.DNSName(name)


def issue(host: str, out: Path, days: int = DEFAULT_DAYS) -> Issued:
    """Writes OUT/HOST.key and OUT/HOST.crt (creating OUT) and returns their paths."""
    san = subject_name(host)
    if not 1 <= days <= MAX_DAYS:
        raise ConfigError(f"--days must be 1-{MAX_DAYS}, not {days}")
    label = str(san.value)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {out}: {exc.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot write into {out}: permission denied")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    paths = Issued(out / f"{label}.crt", out / f"{label}.key")
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    try:
        _write_private(paths.key, pem_key)
        paths.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        raise ConfigError(f"cannot write {exc.filename or out}: {exc.strerror}") from None
    return paths


def _write_private(path: Path, data: bytes) -> None:
    """Created 0600 (never readable by others, not even for an instant), and an existing file
    made 0600 too before it gets the new key."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, KEY_MODE)
    with os.fdopen(descriptor, "wb") as file:
        os.fchmod(file.fileno(), KEY_MODE)
        file.write(data)


def add_parser(commands: argparse._SubParsersAction[OneLineParser]) -> None:
    command = commands.add_parser("tls-selfsigned",
                                  help="a key and self-signed certificate for trying TLS (docs/tls.md)")
    command.add_argument("host", help="the DNS name or IP address the browser will use")
    command.add_argument("--out", type=Path, default=Path("var/tls"), help="folder for HOST.crt and HOST.key")
    command.add_argument("--days", type=int, default=DEFAULT_DAYS, help="validity in days")


def run(args: argparse.Namespace) -> int:
    issued = issue(args.host, args.out, args.days)
    print(f"certificate {issued.certificate}")
    print(f"key {issued.key} (mode 0600)")
    return 0
