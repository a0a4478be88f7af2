"""The JWT signing key and the token Vigil hands out on success.

HS256/384/512 sign with a shared secret; RS256/ES256 with a private key so relying parties
verify with the public key alone. The key id (``kid``) goes into the header for rotation. In
development without a configured secret, a random one is generated on first start and kept in
``jwt.key_file`` (mode 0600), so tokens stay verifiable across restarts; nothing ships a default.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from shared.errors import ConfigError
from shared.settings import Env, JwtSettings, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SigningKey:
    algorithm: str
    key: str | bytes
    kid: str | None
    ttl_s: int

    def sign(self, claims: dict[str, Any], *, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        payload = {**claims, "iat": issued, "exp": issued + self.ttl_s}
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(payload, self.key, algorithm=self.algorithm, headers=headers)


class SigningKeys:
    """The signing key for the live jwt settings of a frame: algorithm, kid and ttl_s change
    without a restart; the key material itself comes from the environment and files only."""

    def __init__(self) -> None:
        self._keys: dict[tuple[str, str | None, int], SigningKey] = {}

    def for_settings(self, settings: Settings) -> SigningKey:
        options = settings.jwt
        marker = (options.algorithm, options.kid, options.ttl_s)
        if marker not in self._keys:
            self._keys[marker] = load_signing_key(settings)
        return self._keys[marker]


def load_signing_key(settings: Settings) -> SigningKey:
    options = settings.jwt
    if not options.algorithm.startswith("HS"):
        assert options.private_key_file is not None  # enforced by the settings validator
        return SigningKey(options.algorithm, _read(options.private_key_file), options.kid, options.ttl_s)
    if options.key is not None:
        return SigningKey(options.algorithm, options.key.get_secret_value(), options.kid, options.ttl_s)
    if settings.env is Env.PRODUCTION:
        raise ConfigError("production mode needs VIGIL_JWT__KEY")  # the settings validator says so first
    return SigningKey(options.algorithm, _development_secret(options), options.kid, options.ttl_s)


def _development_secret(options: JwtSettings) -> str:
    path = options.key_file
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        # O_EXCL: when several deciders start at once, exactly one writes the key.
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        for _ in range(50):
            existing = path.read_text().strip()
            if existing:
                return existing
            time.sleep(0.02)  # the creator is still writing it
        raise ConfigError(f"{path} is empty: delete it to generate a new development key") from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret)
    log.warning("development mode: generated a random JWT key in %s (set VIGIL_JWT__KEY in production)", path)
    return secret


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the JWT private key {path}: {exc}") from exc
