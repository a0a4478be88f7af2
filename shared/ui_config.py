"""UI configs: how the check page looks and talks (the guide's "Creating config" fields).

Stored in Redis as JSON in the hash ``Keys.ui_configs`` (field = config name), written by the
admin panel or ``vigil ui-config load FILE``, read by the ingress when the page asks for
``?cn=NAME``. A built-in ``default`` config applies when none is stored under that name.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field, HttpUrl, field_validator
from redis.asyncio import Redis

from shared.keys import Keys
from shared.messages import Message
from shared.store import ModelHash

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_NAME = "default"


class ShootingMode(StrEnum):
    SELFIE = "selfie"  # the person holds the camera: the picture is mirrored
    OPERATOR = "operator"  # an operator films the person: not mirrored


class UiConfig(Message):
    TYPE = "ui-config"

    name: str
    redirect_url: HttpUrl | None = None
    image_width: int = Field(640, ge=160, le=1920)  # frames sent to the service
    image_height: int = Field(480, ge=120, le=1920)
    video_width: int = Field(640, ge=160, le=3840)  # the camera stream asked for
    video_height: int = Field(480, ge=120, le=3840)
    mode: ShootingMode = ShootingMode.SELFIE
    # Replaces the page's built-in text: a code (frame-check or system code, as a string key) or a
    # page string by its name (e.g. "start", "cameraDenied"; services/ingress/static/i18n/en.json),
    # in every language, or in one only as "LANG:key" ("es:start"; docs/translations.md).
    error_messages: dict[str, str] = Field(default_factory=dict)
    success_message: str | None = None
    start_button_text: str | None = None
    mode_tooltip: str | None = None
    camera_not_attached_message: str | None = None
    # CSS applied to the page (colours of buttons, backgrounds, messages); no scripts.
    styles: str = Field("", max_length=20_000)
    # The JWT ``aud`` of sessions started from this config (the page sends ``ui-config:NAME`` in
    # CONNECT); None: the service's ``jwt.audience``.
    audience: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError("a config name is 1-64 letters, digits, '_' or '-'")
        return value

    @field_validator("styles")
    @classmethod
    def _no_markup(cls, value: str) -> str:
        if "<" in value:
            raise ValueError("styles are CSS only: '<' is not allowed")
        return value


DEFAULT_CONFIG = UiConfig(name=DEFAULT_NAME)


def ui_config_store(redis: Redis, keys: Keys) -> ModelHash[UiConfig]:
    """``Keys.ui_configs``: config name -> ``UiConfig``, for every process that reads or writes it."""
    return ModelHash(redis, keys.ui_configs, UiConfig)
