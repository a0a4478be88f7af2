"""Settings section (the role of the guide's "Luna Configurator"): every live settings group
viewed and edited per tag, validated before saving, stored in Redis with a version, and picked
up by the running services from their next frame (shared/live_config.py). Restart-only groups
are shown read-only, as this admin process loaded them. Secrets are never shown back.

The values shown are this admin process's environment with the stored overrides on top: run
the panel with the same ``VIGIL_*`` environment as the services so they agree.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, SecretStr
from quart import Blueprint, abort, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from admin.accounts import Section
from admin.actions import ObjectKind, Verb
from admin.context import admin_context, signed_in
from admin.guard import requires
from admin.notices import notice
from admin.settings_form import GroupForm, build_form, override_of, parse_submission
from shared.errors import MessageDecodeError
from shared.live_config import (
    DEFAULT_TAG,
    LIVE_GROUPS,
    TAG_PATTERN,
    ConfigConflict,
    ConfigStore,
    InvalidOverride,
    StoredConfig,
    apply_layers,
)
from shared.messages import ConfigChange, decode
from shared.settings import Settings

settings_view = Blueprint("settings_view", __name__, url_prefix="/settings")
settings_view.before_request(requires(Section.SETTINGS))
HIDDEN = "(set, hidden)"
URL_CREDENTIALS = re.compile(r"//[^/@\s]*@")
NOTICES = {"saved": "Saved {}: the services apply it from their next frame.", "reset": "Reset {} to the layer beneath."}


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


def _rows(settings: Settings, name: str) -> list[tuple[str, str]]:
    group = getattr(settings, name)
    return [(field, shown(getattr(group, field), secret="SecretStr" in str(info.annotation)))
            for field, info in type(group).model_fields.items()]


def restart_only_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    settings = admin_context().settings
    return [(name, _rows(settings, name)) for name in type(settings).model_fields
            if name not in LIVE_GROUPS and isinstance(getattr(settings, name), BaseModel)]


def _tag(tag: str) -> str:
    if not TAG_PATTERN.match(tag):
        abort(404, "Tags are lower-case letters, digits, - and _.")
    return tag


async def _layers(tag: str) -> list[StoredConfig]:
    return await ConfigStore(admin_context().redis, admin_context().keys).layers(tag)


def _apply(layers: list[StoredConfig]) -> Settings:
    try:
        return apply_layers(admin_context().settings, layers)
    except InvalidOverride as exc:
        abort(409, f"The stored settings do not validate any more ({exc.errors}); "
                   "remove them with `vigil config drop TAG`.")


def _without(layer: StoredConfig, group: str) -> StoredConfig:
    return layer.model_copy(update={"overrides": {k: v for k, v in layer.overrides.items() if k != group}})


async def history(count: int = 15) -> list[ConfigChange]:
    entries = await admin_context().redis.xrevrange(admin_context().keys.config_changes, count=count)
    changes = []
    for _, fields in entries:
        try:
            changes.append(decode(ConfigChange, fields))
        except MessageDecodeError:
            continue  # shown nowhere else; the services log it when they read it
    return changes


@settings_view.get("/")
async def index() -> ResponseReturnValue:
    tag = _tag(request.args.get("tag", DEFAULT_TAG))
    layers = await _layers(tag)
    effective = _apply(layers)
    overridden = {group: set(fields) for layer in layers for group, fields in layer.overrides.items()}
    live = [(name, _rows(effective, name), overridden.get(name, set())) for name in LIVE_GROUPS]
    store = ConfigStore(admin_context().redis, admin_context().keys)
    return await render_template("settings.html", tag=tag, tags=await store.tags(), version=layers[-1].version,
                                 live=live, fixed=restart_only_groups(), history=await history(),
                                 notice=notice(NOTICES))


@settings_view.post("/tag")
async def new_tag() -> ResponseReturnValue:
    name = (await request.form).get("tag", "").strip().lower()
    if not TAG_PATTERN.match(name):
        abort(400, "A tag is 1-32 lower-case letters, digits, - or _, starting with a letter or digit.")
    return redirect(url_for("settings_view.index", tag=name))


def _version(raw: str) -> int:
    return int(raw) if raw.isdigit() else -1  # a missing or forged version can only conflict


async def _render(form: GroupForm, tag: str, version: int, status: int = 200, error: str = "") -> ResponseReturnValue:
    page = await render_template("settings_form.html", form=form, tag=tag, version=version, error=error)
    return page, status


@settings_view.route("/<tag>/<group>", methods=["GET", "POST"])
async def edit(tag: str, group: str) -> ResponseReturnValue:
    tag = _tag(tag)
    if group not in LIVE_GROUPS:
        abort(404, f"{group} is not a live settings group.")
    layers = await _layers(tag)
    beneath_layers = [*layers[:-1], _without(layers[-1], group)]
    form = build_form(group, _apply(layers), _apply(beneath_layers))
    version = layers[-1].version
    if request.method == "GET":
        return await _render(form, tag, version)
    submitted = await request.form
    values = {} if "reset" in submitted else parse_submission(form, submitted)
    try:
        validated = apply_layers(admin_context().settings, [*beneath_layers, StoredConfig(
            tag=tag, overrides={group: values})])
        override = override_of(values, form.beneath, validated, group)
        await ConfigStore(admin_context().redis, admin_context().keys).save(
            admin_context().settings, tag, group, override, expected_version=_version(submitted.get("version", "")),
            actor=signed_in().user.name)
    except InvalidOverride as exc:
        form.errors = {key.removeprefix(f"{group}.") or key: reason for key, reason in exc.errors.items()}
        return await _render(form, tag, version, 400, "Nothing was saved: please correct the fields marked below.")
    except ConfigConflict as exc:
        # Show what is stored now; the editor re-applies their change knowingly.
        fresh = await _layers(tag)
        fresh_form = build_form(group, _apply(fresh), _apply([*fresh[:-1], _without(fresh[-1], group)]))
        return await _render(fresh_form, tag, fresh[-1].version, 409, str(exc))
    detail = ", ".join(f"{name}={shown(value)}" for name, value in override.items()) or "back to the layer beneath"
    await admin_context().actions.record(signed_in().user.name, Verb.UPDATED, ObjectKind.SETTINGS,
                                         f"{tag}/{group}", detail)
    return redirect(url_for("settings_view.index", tag=tag, done="reset" if "reset" in submitted else "saved",
                            names=group))

