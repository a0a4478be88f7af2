"""UI configs in Redis: what the check page's ``?cn=NAME`` loads (shared/ui_config.py is the contract).

The hash ``Keys.ui_configs`` maps a config name to the JSON of a ``UiConfig``. The name
``default`` always resolves: to the stored one when an operator loaded one, else to the built-in
``DEFAULT_CONFIG``. The ingress reads through this class; ``vigil ui-config`` writes through it.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis

from shared.errors import ConfigError, MessageDecodeError
from shared.keys import Keys
from shared.ui_config import DEFAULT_CONFIG, DEFAULT_NAME, NAME_PATTERN, UiConfig, ui_config_store

log = logging.getLogger(__name__)


class UnknownUiConfig(LookupError):
    """No config is stored under that name (and it is not ``default``); the text says so for people."""

    def __init__(self, name: str) -> None:
        if NAME_PATTERN.match(name):
            text = f"there is no UI config named {name!r}; load one with `vigil ui-config load FILE`"
        else:
            text = f"{name[:80]!r} is not a UI config name (1-64 letters, digits, '_' or '-')"
        super().__init__(text)
        self.name = name


class UiConfigStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys
        self.stored = ui_config_store(redis, keys)

    async def get(self, name: str) -> UiConfig:
        """The config called ``name``; ``UnknownUiConfig`` if there is none, ``ConfigError`` if
        the stored JSON is not a valid config (someone wrote the hash by hand)."""
        if not NAME_PATTERN.match(name):
            raise UnknownUiConfig(name)
        raw = await self.stored.raw(name)
        if raw is None:
            if name == DEFAULT_NAME:
                return DEFAULT_CONFIG
            raise UnknownUiConfig(name)
        try:
            config = self.stored.parse(raw)
        except MessageDecodeError as exc:
            # The page sees that it is broken; what pydantic found (values included) goes to the log.
            log.error("the stored UI config %r is invalid: %s", name, exc)
            raise ConfigError(f"the stored UI config {name!r} is invalid (details in the ingress log)") from exc
        if config.name != name:
            raise ConfigError(f"the UI config stored under {name!r} calls itself {config.name!r}")
        return config

    async def put(self, config: UiConfig) -> None:
        await self.stored.put(config.name, config)

    async def names(self) -> list[str]:
        """Names of the stored configs, sorted (``default`` is usable even when not stored)."""
        return await self.stored.names()
