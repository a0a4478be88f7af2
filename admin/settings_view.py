"""Settings section (read-only for now): every settings group as this admin process loaded it.
Secrets are never shown, only whether they are set. Editing live settings comes later."""

from __future__ import annotations

import re

from pydantic import BaseModel, SecretStr
from quart import Blueprint, render_template
from quart.typing import ResponseReturnValue

from admin.accounts import Section
from admin.context import admin_context
from admin.guard import requires

settings_view = Blueprint("settings_view", __name__, url_prefix="/settings")
settings_view.before_request(requires(Section.SETTINGS))
HIDDEN = "(set, hidden)"
URL_CREDENTIALS = re.compile(r"//[^/@\s]*@")


def _secret(annotation: object) -> bool:
    return "SecretStr" in str(annotation)


def shown(value: object, *, secret: bool = False) -> str:
    if value is not None and (secret or isinstance(value, SecretStr)):
        return HIDDEN
    if isinstance(value, tuple):
        return ", ".join(shown(item) for item in value) or "(none)"
    if isinstance(value, BaseModel):
        return "; ".join(f"{name}={shown(getattr(value, name))}" for name in type(value).model_fields)
    if value is None:
        return "(not set)"
    return URL_CREDENTIALS.sub("//(hidden)@", str(getattr(value, "value", value)))


def groups() -> list[tuple[str, list[tuple[str, str]]]]:
    settings = admin_context().settings
    found = []
    for name in type(settings).model_fields:
        group = getattr(settings, name)
        if isinstance(group, BaseModel):
            rows = [(field, shown(getattr(group, field), secret=_secret(info.annotation)))
                    for field, info in type(group).model_fields.items()]
            found.append((name, rows))
    return found


@settings_view.get("/")
async def index() -> ResponseReturnValue:
    return await render_template("settings.html", groups=groups())
