"""Where the Redis is, for processes and commands a person starts: ``VIGIL_REDIS__URL`` when set,
else the embedded Redis of ``vigil run`` / ``make run`` (its port, and the password it was given,
kept in ``var/secrets/redis.password`` with mode 0600). Only ``VIGIL_REDIS__*`` is read, so a
command that needs Redis alone (``python -m admin set-password``, ``vigil ui-config``) does not
also need a production JWT key.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import ConfigError
from shared.settings import ENV_PREFIX, RedisSettings

VAR_DIR = Path("var")  # `vigil run --var` default, relative to the checkout as `make run` starts it
PASSWORD_FILE = Path("secrets") / "redis.password"  # under the var folder


def environment_redis_settings() -> RedisSettings:
    """The ``VIGIL_REDIS__*`` settings alone."""

    class RedisOnly(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore",
                                          case_sensitive=False, env_parse_none_str="null")
        redis: RedisSettings = RedisSettings()

    try:
        return RedisOnly().redis
    except ValueError as exc:
        raise ConfigError(f"the VIGIL_REDIS__* settings do not load: {exc.__class__.__name__}") from None


def embedded_password(var_dir: Path = VAR_DIR, *, create: bool = False) -> str | None:
    """The embedded Redis's password; ``create``: generate it on first start (mode 0600, O_EXCL so
    two launchers never disagree). None when it does not exist and may not be created."""
    path = var_dir / PASSWORD_FILE
    if create:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
    for _ in range(50):
        try:
            password = path.read_text().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read the embedded Redis's password {path}: {exc.strerror}") from None
        if password:
            return password
        time.sleep(0.02)  # its creator is still writing it
    raise ConfigError(f"{path} is empty: delete it (and restart `vigil run`) to generate a new password")


def embedded_url(port: int, password: str | None, host: str = "127.0.0.1") -> str:
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/0"


def resolve_url(redis: RedisSettings, var_dir: Path = VAR_DIR) -> str:
    """The configured URL, else the embedded Redis's (with its password when it has one)."""
    if redis.url is not None:
        return redis.url
    return embedded_url(redis.embedded_port, embedded_password(var_dir))


def shown(url: str) -> str:
    """``url`` without its password, for logs and messages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}"
