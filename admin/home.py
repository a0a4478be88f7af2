"""The home page (recent actions) and the theme switch."""

from __future__ import annotations

from quart import Blueprint, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from admin.actions import AdminAction, ObjectKind, Verb
from admin.context import admin_context
from admin.guard import safe_next
from admin.notices import notice

home = Blueprint("home", __name__)
THEME_COOKIE = "vigil_admin_theme"
THEMES = ("light", "dark")
NOTICES = {"password": "Your password has been changed."}
OBJECT_PAGES = {ObjectKind.UI_CONFIG: "ui_configs.edit", ObjectKind.USER: "users.edit",
                ObjectKind.GROUP: "groups.edit"}


def action_link(action: AdminAction) -> str | None:
    """The page of the object the action changed; None once it was deleted."""
    if action.verb is Verb.DELETED:
        return None
    if action.kind is ObjectKind.SETTINGS:
        tag, _, group = action.object_id.partition("/")
        return url_for("settings_view.edit", tag=tag, group=group)
    if action.kind is ObjectKind.BLOCK:
        return url_for("limits.index")  # a lifted block is gone: its list
    return url_for(OBJECT_PAGES[action.kind], name=action.object_id)


@home.get("/")
async def index() -> ResponseReturnValue:
    actions = await admin_context().actions.latest(25)
    return await render_template("home.html", actions=[(a, action_link(a)) for a in actions],
                                 notice=notice(NOTICES))


@home.post("/theme")
async def theme() -> ResponseReturnValue:
    form = await request.form
    chosen = form.get("theme", "")
    response = redirect(safe_next(form.get("back")) or url_for("home.index"))
    if chosen in THEMES:
        response.set_cookie(THEME_COOKIE, chosen, max_age=365 * 86_400, httponly=True, samesite="Lax",
                            secure=admin_context().policy.secure_cookies)
    return response


def current_theme() -> str:
    """``light``, ``dark`` or empty (follow the device), for ``<html data-theme>``."""
    chosen = request.cookies.get(THEME_COOKIE, "")
    return chosen if chosen in THEMES else ""
