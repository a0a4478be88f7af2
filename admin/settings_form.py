"""Forms for the live settings groups, generated from the pydantic settings models.

Each field's input follows its annotation: a checkbox for ``bool``, a select for a ``Literal``
or an enum, checkboxes for a tuple of those, a number for ``int``/``float``, text otherwise; an
optional field left empty means ``None`` (for thresholds: that check is off). The submitted
values are validated by the same models the services load (shared/live_config.apply_layers);
what is stored is only what differs from the layer beneath (the environment, then ``default``).
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, JsonValue
from werkzeug.datastructures import MultiDict

from shared.live_config import editable_fields
from shared.settings import Settings


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Literal["bool", "choice", "choices", "number", "text"]
    optional: bool
    choices: tuple[str, ...] = ()
    enum: type[Enum] | None = None
    description: str = ""  # the setting's Field(description=...), shown under it

    def label(self, choice: str) -> str:
        """An integer enum's member name beside its value (multiface_policy: "1 largest")."""
        if self.enum is not None and choice.lstrip("-").isdigit():
            return f"{choice} {self.enum(int(choice)).name.lower().replace('_', ' ')}"
        return choice


@dataclass
class GroupForm:
    group: str
    fields: list[FieldSpec]
    values: dict[str, JsonValue]  # as shown: the effective value of each field
    beneath: dict[str, JsonValue]  # the value without this tag's override of the group
    errors: dict[str, str] = field(default_factory=dict)

    def overridden(self, name: str) -> bool:
        return self.values.get(name) != self.beneath.get(name)

    def other_errors(self) -> list[str]:
        """Errors about the group or the whole settings (validators across fields)."""
        names = {spec.name for spec in self.fields}
        return [f"{key}: {reason}" for key, reason in self.errors.items() if key not in names]

    def text(self, name: str) -> str:
        value = self.values.get(name)
        return "" if value is None else str(value)


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), len(args) < len(typing.get_args(annotation))
    return annotation, False


def _choices(annotation: Any) -> tuple[tuple[str, ...], type[Enum] | None]:
    if typing.get_origin(annotation) is Literal:
        return tuple(str(a) for a in typing.get_args(annotation)), None
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return tuple(str(member.value) for member in annotation), annotation
    return (), None


def field_specs(group: str) -> list[FieldSpec]:
    model: type[BaseModel] = type(getattr(Settings.model_construct(), group))
    specs = []
    for name in editable_fields(group):
        annotation, optional = _strip_optional(model.model_fields[name].annotation)
        choices, enum = _choices(annotation)
        described = model.model_fields[name].description or ""
        if annotation is bool:
            specs.append(FieldSpec(name, "bool", optional, description=described))
        elif choices:
            specs.append(FieldSpec(name, "choice", optional, choices, enum, described))
        elif typing.get_origin(annotation) is tuple and _choices(typing.get_args(annotation)[0])[0]:
            item_choices, item_enum = _choices(typing.get_args(annotation)[0])
            specs.append(FieldSpec(name, "choices", optional, item_choices, item_enum, described))
        elif annotation in (int, float):
            specs.append(FieldSpec(name, "number", optional, description=described))
        else:
            specs.append(FieldSpec(name, "text", optional, description=described))
    return specs


def group_values(settings: Settings, group: str) -> dict[str, JsonValue]:
    dumped: dict[str, JsonValue] = getattr(settings, group).model_dump(mode="json")
    return {name: dumped[name] for name in editable_fields(group)}


def build_form(group: str, effective: Settings, beneath: Settings) -> GroupForm:
    return GroupForm(group, field_specs(group), group_values(effective, group), group_values(beneath, group))


def parse_submission(form: GroupForm, submitted: MultiDict[str, str]) -> dict[str, JsonValue]:
    """The submitted values as JSON-ready data (the models validate them afterwards)."""
    values: dict[str, JsonValue] = {}
    for spec in form.fields:
        raw = submitted.get(spec.name, "").strip()
        if spec.kind == "bool":
            values[spec.name] = spec.name in submitted
        elif spec.kind == "choices":
            values[spec.name] = list(submitted.getlist(spec.name))
        elif raw == "" and spec.optional:
            values[spec.name] = None
        elif spec.enum is not None and raw.lstrip("-").isdigit():
            values[spec.name] = int(raw)  # an IntEnum's value (e.g. multiface_policy)
        else:
            values[spec.name] = raw
    form.values = values
    return values


def override_of(values: dict[str, JsonValue], beneath: dict[str, JsonValue], validated: Settings,
                group: str) -> dict[str, JsonValue]:
    """What to store: the fields whose validated value differs from the layer beneath."""
    normalised = group_values(validated, group)
    return {name: normalised[name] for name in values if normalised[name] != beneath.get(name)}
