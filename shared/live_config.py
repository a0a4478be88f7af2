"""Live settings: the overrides operators store in Redis and running services pick up.

A process's settings start from its environment (``VIGIL_*``, shared/settings/). On top of
that, the admin panel stores overrides of the *live* groups in ``P:config`` (one versioned
``StoredConfig`` per tag) and announces each change on ``P:config-changes``; every service
watches that stream (shared/live_settings.py) and decides the next frame with the new values,
without a restart.

Tags (the guide's "Running services with different configurations"): the ``default`` tag's
overrides apply everywhere; a tag's own overrides go on top of them. An ingress started with
``VIGIL_CONFIG_TAG=T`` stamps ``T`` on every frame it receives, and the estimator, decider and
plugins decide that frame with ``T``'s settings: two front doors with different policies share
one pool of workers.

Only ``LIVE_GROUPS`` can change this way. The others (Redis, ports, the bus, models, admin
sign-in rules, the environment) are read once at start. ``FIXED_FIELDS`` stay with the
environment too: secrets and key files never go into Redis, and neither do file paths, code
hooks or which processes run, which a web form should not change.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field, JsonValue, ValidationError
from redis.asyncio import Redis

from shared.bus import add
from shared.errors import BusConflict, VigilError
from shared.keys import Keys
from shared.messages import ConfigChange, Message
from shared.settings import Settings
from shared.store import ModelHash
from shared.stored import from_stored_json

log = logging.getLogger(__name__)

DEFAULT_TAG = "default"
TAG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
LIVE_GROUPS = (
    "session", "roi", "thresholds", "active_liveness", "light_challenge", "virtual_camera_checker", "decider",
    "plugins", "jwt", "video", "logging",
)
FIXED_FIELDS: dict[str, frozenset[str]] = {
    "jwt": frozenset({"key", "key_file", "private_key_file", "results_key"}),
    # The detector drops faces below it inside the model wrapper, built once at start.
    "thresholds": frozenset({"detection"}),
    # The video builder reads codec and frames_limit at each build; the rest shapes its Redis records.
    "video": frozenset({"storage", "task_hook", "lock_ms", "expires", "result_ttl", "session_timeout"}),
    # Third-party plugins are code: installing one is a deployment, not a form edit.
    "plugins": frozenset({"extra"}),
    # Where personal data (recorded frames) lands is a deployment decision.
    "light_challenge": frozenset({"recordings_path"}),
    # The log format is set up once at start (shared/logs.py); only the level follows live changes.
    "logging": frozenset({"format"}),
}
CHANGES_MAXLEN = 1000

Overrides = dict[str, dict[str, JsonValue]]


class ConfigConflict(VigilError):
    """The stored configuration changed since the editor loaded it (optimistic locking)."""


class InvalidOverride(VigilError):
    """An override does not validate against the settings models; ``errors`` maps field -> reason."""

    def __init__(self, message: str, errors: dict[str, str]) -> None:
        super().__init__(message)
        self.errors = errors


class StoredConfig(Message):
    """One tag's overrides as stored in ``P:config``; ``version`` grows by one per change (the
    record's own schema version is the envelope's, ``VERSION``)."""

    TYPE = "live-config"

    tag: str
    version: int = 0
    overrides: Overrides = Field(default_factory=dict)
    updated_by: str = ""
    updated_at: float = 0.0


def check_tag(tag: str) -> str:
    if not TAG_PATTERN.match(tag):
        raise InvalidOverride(f"invalid config tag {tag!r}", {"tag": "lower-case letters, digits, - and _ (1-32)"})
    return tag


def editable_fields(group: str) -> tuple[str, ...]:
    model = type(getattr(Settings.model_construct(), group))
    return tuple(name for name in model.model_fields if name not in FIXED_FIELDS.get(group, frozenset()))


def _check_shape(overrides: Mapping[str, Mapping[str, object]]) -> None:
    for group, fields in overrides.items():
        if group not in LIVE_GROUPS:
            raise InvalidOverride(f"{group} is not a live settings group", {group: "restart-only group"})
        fixed = sorted(set(fields) & FIXED_FIELDS.get(group, frozenset()))
        if fixed:
            raise InvalidOverride(f"{group}: {', '.join(fixed)} stay with the environment",
                                  {f"{group}.{name}": "set in the environment only" for name in fixed})


def apply_layers(base: Settings, layers: Iterable[StoredConfig]) -> Settings:
    """``base`` with each layer's overrides on top, validated as a whole (the same validators
    as at start). Raises ``InvalidOverride`` with per-field reasons."""
    merged: dict[str, Any] = base.model_dump(mode="python")  # SecretStr and paths stay as they are
    for layer in layers:
        _check_shape(layer.overrides)
        for group, fields in layer.overrides.items():
            merged[group] = {**merged[group], **fields}
    try:
        # model_validate builds from the dict alone: the environment is not read again.
        return Settings.model_validate(merged)
    except ValidationError as exc:
        errors = {".".join(str(part) for part in error["loc"]) or "settings": error["msg"] for error in exc.errors()}
        raise InvalidOverride(f"invalid settings: {exc.error_count()} errors", errors) from exc


class ConfigStore:
    """Reads and writes ``P:config`` and announces every change on ``P:config-changes``."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis, self.keys = redis, keys
        self.stored = ModelHash(redis, keys.config, StoredConfig)

    async def load(self, tag: str) -> StoredConfig:
        return _parse(tag, await self.stored.raw(check_tag(tag)))

    async def tags(self) -> list[str]:
        names = set(await self.stored.names())
        return sorted(names | {DEFAULT_TAG})

    async def layers(self, tag: str) -> list[StoredConfig]:
        """What a process or frame with ``tag`` applies, in order: ``default``, then ``tag``."""
        tags = [DEFAULT_TAG] if tag == DEFAULT_TAG else [DEFAULT_TAG, check_tag(tag)]
        raws = await self.stored.raw_many(tags)
        return [_parse(name, raw) for name, raw in zip(tags, raws, strict=True)]

    async def save(self, base: Settings, tag: str, group: str, fields: Mapping[str, JsonValue], *,
                   expected_version: int, actor: str) -> StoredConfig:
        """Replace ``tag``'s overrides of ``group`` by ``fields`` (empty: back to the base), after
        checking the result validates for ``base`` and nobody saved in between."""
        check_tag(tag)
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(self.keys.config)
                current = _parse(tag, await self.stored.raw(tag, via=pipe))
                if current.version != expected_version:
                    raise ConfigConflict(f"{tag} is at version {current.version}, not {expected_version}: "
                                         "someone saved meanwhile; reload and apply your change again")
                overrides = {name: dict(values) for name, values in current.overrides.items() if name != group}
                if fields:
                    overrides[group] = dict(fields)
                stored = StoredConfig(tag=tag, version=current.version + 1, overrides=overrides, updated_by=actor,
                                      updated_at=time.time())
                layers = [stored] if tag == DEFAULT_TAG else [
                    _parse(DEFAULT_TAG, await self.stored.raw(DEFAULT_TAG, via=pipe)), stored]
                apply_layers(base, layers)
                pipe.multi()  # type: ignore[no-untyped-call]
                self.stored.queue_put(pipe, tag, stored)
                add(pipe, self.keys.config_changes, ConfigChange(
                    tag=tag, version=stored.version, actor=actor, at=stored.updated_at, group=group,
                    overrides=json.dumps(overrides, sort_keys=True)), maxlen=CHANGES_MAXLEN)
                await pipe.execute()
            except BusConflict as exc:
                raise ConfigConflict(f"{tag} changed while saving: reload and apply your change again") from exc
        log.info("config %s v%d: %s changed by %s", tag, stored.version, group, actor)
        return stored


    async def drop(self, tag: str, *, actor: str) -> None:
        """Delete every override of ``tag`` without validating anything: the way out when a stored
        record no longer validates (e.g. written by another version)."""
        check_tag(tag)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self.keys.config, tag)
            change = ConfigChange(tag=tag, version=0, actor=actor, at=time.time(), group="*")
            add(pipe, self.keys.config_changes, change, maxlen=CHANGES_MAXLEN)
            await pipe.execute()
        log.warning("config %s: every override dropped by %s", tag, actor)


def _parse(tag: str, raw: bytes | str | None) -> StoredConfig:
    if raw is None:
        return StoredConfig(tag=tag)
    return from_stored_json(StoredConfig, raw)
