"""Sessions section, part 2: the abuse limits' blocks in force (lift one) and the refusals counted
(shared/abuse.py; the ingress counts and blocks, services/ingress/limits.py)."""

from __future__ import annotations

from quart import Blueprint, abort, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from admin.accounts import Section
from admin.actions import ObjectKind, Verb
from admin.context import admin_context, signed_in
from admin.guard import requires
from admin.notices import notice
from shared import abuse
from shared.abuse import Scope

limits = Blueprint("limits", __name__, url_prefix="/limits")
limits.before_request(requires(Section.SESSIONS))
NOTICES = {"lifted": "Lifted the block of {}.", "gone": "There was no block on {} any more."}


@limits.get("/")
async def index() -> ResponseReturnValue:
    context = admin_context()
    return await render_template(
        "limits.html", blocks=await abuse.blocks(context.redis, context.keys),
        refusals=await abuse.refusals(context.redis, context.keys), settings=context.settings.abuse,
        notice=notice(NOTICES))


@limits.post("/lift")
async def lift() -> ResponseReturnValue:
    form, context = await request.form, admin_context()
    try:
        scope, value = Scope(form.get("scope", "")), form.get("value", "")
    except ValueError:
        abort(400, "Unknown kind of block.")
    if not value or len(value) > 200:
        abort(400, "No block named.")
    lifted = await abuse.lift(context.redis, context.keys, scope, value)
    if lifted:
        await context.actions.record(signed_in().user.name, Verb.LIFTED, ObjectKind.BLOCK, f"{scope.value} {value}")
    return redirect(url_for("limits.index", done="lifted" if lifted else "gone", names=value))
