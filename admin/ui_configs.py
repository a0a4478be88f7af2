"""UI configs section: list, create, edit, delete selected (after a confirmation page)."""

from __future__ import annotations

import logging
from urllib.parse import quote

from quart import Blueprint, abort, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from admin.accounts import Section
from admin.actions import ObjectKind, Verb
from admin.context import admin_context, signed_in
from admin.guard import requires
from admin.notices import notice
from admin.ui_config_form import MESSAGE_PREFIX, UiConfigForm, error_codes, form_from_config, parse_form
from shared.errors import MessageDecodeError
from shared.store import ModelHash
from shared.ui_config import DEFAULT_CONFIG, NAME_PATTERN, UiConfig, ui_config_store

log = logging.getLogger(__name__)
ui_configs = Blueprint("ui_configs", __name__, url_prefix="/ui-configs")
ui_configs.before_request(requires(Section.UI_CONFIGS))
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")
NOTICES = {"created": "Created {}.", "saved": "Saved {}.", "deleted": "Deleted {}.",
           "none": "Select the configs to delete first."}


def view_site_url(name: str) -> str:
    """The check page showing config ``name`` (the ingress serves it)."""
    context = admin_context()
    base = context.policy.ingress_url
    if base is None:
        host = context.settings.ingress.host
        if host in WILDCARD_HOSTS:
            host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
        base = f"http://{host}:{context.settings.ingress.port}"
    return f"{base.rstrip('/')}/?cn={quote(name)}"


def _store() -> ModelHash[UiConfig]:
    return ui_config_store(admin_context().redis, admin_context().keys)


async def _stored() -> tuple[dict[str, UiConfig], list[str]]:
    """The stored configs by name, and the names whose JSON no longer validates (they can be deleted)."""
    store = _store()
    configs, broken = {}, []
    for name, value in sorted((await store.raw_all()).items()):
        try:
            configs[name] = store.parse(value)
        except MessageDecodeError as exc:
            log.warning("UI config %r is invalid: %s", name, exc)
            broken.append(name)
    return configs, broken


async def _config(name: str) -> UiConfig:
    store = _store()
    raw = await store.raw(name)
    if raw is None:
        abort(404, f"There is no UI config {name!r}.")
    try:
        return store.parse(raw)
    except MessageDecodeError:
        abort(409, f"The stored UI config {name!r} is not valid any more: delete it and create it again.")


async def _render_form(form: UiConfigForm, *, editing: str | None, status: int = 200) -> ResponseReturnValue:
    page = await render_template("ui_config_form.html", form=form, editing=editing, codes=error_codes(),
                                 message_prefix=MESSAGE_PREFIX, messages_open=bool(form.messages) or any(
                                     key.startswith(MESSAGE_PREFIX) for key in form.errors))
    return page, status


@ui_configs.get("/")
async def index() -> ResponseReturnValue:
    configs, broken = await _stored()
    return await render_template("ui_configs.html", configs=list(configs.values()), broken=broken,
                                 view_site_url=view_site_url, notice=notice(NOTICES))


@ui_configs.route("/new", methods=["GET", "POST"])
async def create() -> ResponseReturnValue:
    if request.method == "GET":
        return await _render_form(form_from_config(DEFAULT_CONFIG.model_copy(update={"name": ""})), editing=None)
    config, form = parse_form(await request.form)
    context = admin_context()
    if config is not None:
        if await _store().put_new(config.name, config):
            await context.actions.record(signed_in().user.name, Verb.CREATED, ObjectKind.UI_CONFIG, config.name)
            return redirect(url_for("ui_configs.index", done="created", names=config.name))
        form.errors["name"] = "A config with this name exists already."
    return await _render_form(form, editing=None, status=400)


@ui_configs.route("/<name>/edit", methods=["GET", "POST"])
async def edit(name: str) -> ResponseReturnValue:
    if not NAME_PATTERN.match(name):
        abort(404)
    current = await _config(name)
    if request.method == "GET":
        return await _render_form(form_from_config(current), editing=name)
    config, form = parse_form(await request.form, name=name)
    if config is None:
        return await _render_form(form, editing=name, status=400)
    context = admin_context()
    await _store().put(name, config)
    changed = sorted(key for key in UiConfig.model_fields if getattr(config, key) != getattr(current, key))
    await context.actions.record(signed_in().user.name, Verb.UPDATED, ObjectKind.UI_CONFIG, name,
                                 ", ".join(changed))
    return redirect(url_for("ui_configs.index", done="saved", names=name))


@ui_configs.post("/delete")
async def delete() -> ResponseReturnValue:
    form, context = await request.form, admin_context()
    configs, broken = await _stored()
    names = sorted({name for name in form.getlist("selected") if name in configs or name in broken})
    if not names:
        return redirect(url_for("ui_configs.index", done="none"))
    if form.get("confirm") != "yes":
        return await render_template("confirm_delete.html", what="UI configs", names=names,
                                     action=url_for("ui_configs.delete"), back=url_for("ui_configs.index"))
    await _store().delete(*names)
    for name in names:
        await context.actions.record(signed_in().user.name, Verb.DELETED, ObjectKind.UI_CONFIG, name)
    return redirect(url_for("ui_configs.index", done="deleted", names=",".join(names)))
