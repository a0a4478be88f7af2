"""The UI config form: the guide's "Creating config" fields as HTML inputs, and back to a
validated ``UiConfig`` (or the errors to show beside each field)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from shared.errors import FrameCheck, SystemCode
from shared.ui_config import UiConfig

NUMBER_FIELDS = ("image_width", "image_height", "video_width", "video_height")
TEXT_FIELDS = ("success_message", "start_button_text", "mode_tooltip", "camera_not_attached_message", "audience")
MESSAGE_PREFIX = "message_"
MAX_TEXT = 2000


def error_codes() -> list[tuple[str, str]]:
    """Every code a message can replace: (code, readable name)."""
    return [(str(int(code)), code.name.replace("_", " ").lower()) for code in (*FrameCheck, *SystemCode)]


@dataclass
class UiConfigForm:
    values: dict[str, str]
    messages: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def form_from_config(config: UiConfig) -> UiConfigForm:
    data = config.model_dump(mode="json")
    values = {name: "" if data[name] is None else str(data[name]) for name in data if name != "error_messages"}
    return UiConfigForm(values=values, messages=dict(config.error_messages))


def parse_form(form: Mapping[str, str], name: str | None = None) -> tuple[UiConfig | None, UiConfigForm]:
    """The config the form describes (``name`` fixed when editing), or None and the errors."""
    keys = ("name", "redirect_url", "mode", "styles", *NUMBER_FIELDS, *TEXT_FIELDS)
    values = {key: form.get(key, "").replace("\r\n", "\n") for key in keys}
    if name is not None:
        values["name"] = name
    messages = {code: form.get(MESSAGE_PREFIX + code, "").strip() for code, _ in error_codes()}
    messages = {code: text for code, text in messages.items() if text}
    result = UiConfigForm(values=values, messages=messages)
    data: dict[str, Any] = {key: values[key].strip() for key in ("name", "mode", *NUMBER_FIELDS)}
    data["styles"] = values["styles"]
    data["redirect_url"] = values["redirect_url"].strip() or None
    data.update({key: values[key].strip() or None for key in TEXT_FIELDS})
    data["error_messages"] = messages
    for key in (*TEXT_FIELDS, "redirect_url"):
        if len(values[key]) > MAX_TEXT:
            result.errors[key] = f"At most {MAX_TEXT} characters."
    for code, text in messages.items():
        if len(text) > MAX_TEXT:
            result.errors[MESSAGE_PREFIX + code] = f"At most {MAX_TEXT} characters."
    try:
        config = UiConfig.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            location = [str(part) for part in error["loc"]]
            key = MESSAGE_PREFIX + location[1] if location[0] == "error_messages" and len(location) > 1 else location[0]
            result.errors.setdefault(key, str(error["msg"]).removeprefix("Value error, "))
        return None, result
    return (None if result.errors else config), result
