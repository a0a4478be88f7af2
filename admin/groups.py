"""Users section, part 2: groups and the sections each grants."""

from __future__ import annotations

from quart import Blueprint, abort, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from admin.accounts import ADMINISTRATORS, NAME_PATTERN, NAME_RULE, AdminGroup, Section
from admin.actions import ObjectKind, Verb
from admin.context import admin_context, signed_in
from admin.guard import requires

groups = Blueprint("groups", __name__, url_prefix="/groups")
groups.before_request(requires(Section.USERS))


async def _sections() -> tuple[Section, ...]:
    chosen = set((await request.form).getlist("sections"))
    return tuple(section for section in Section if section.value in chosen)


async def _render(status: int = 200, **values: object) -> ResponseReturnValue:
    values.setdefault("error", None)
    return await render_template("group_form.html", sections=list(Section), **values), status


@groups.route("/new", methods=["GET", "POST"])
async def create() -> ResponseReturnValue:
    if request.method == "GET":
        return await _render(group=None, chosen=())
    context, form = admin_context(), await request.form
    name, chosen = form.get("name", "").strip().lower(), await _sections()
    error = None if NAME_PATTERN.match(name) else f"A group name is {NAME_RULE}."
    if error is None:
        if await context.accounts.add_group(AdminGroup(name=name, sections=chosen)):
            await context.actions.record(signed_in().user.name, Verb.CREATED, ObjectKind.GROUP, name,
                                         "sections: " + (", ".join(chosen) or "none"))
            return redirect(url_for("users.index", done="group-created", names=name))
        error = "A group with this name exists already."
    return await _render(400, group=None, chosen=chosen, name=name, error=error)


@groups.route("/<name>", methods=["GET", "POST"])
async def edit(name: str) -> ResponseReturnValue:
    group = await admin_context().accounts.group(name) if NAME_PATTERN.match(name) else None
    if group is None:
        abort(404, f"There is no group {name!r}.")
    if request.method == "GET":
        return await _render(group=group, chosen=group.sections)
    if group.name == ADMINISTRATORS:
        abort(403, "The administrators group always grants every section.")
    chosen = await _sections()
    await admin_context().accounts.save_group(group.model_copy(update={"sections": chosen}))
    await admin_context().actions.record(signed_in().user.name, Verb.UPDATED, ObjectKind.GROUP, name,
                                         "sections: " + (", ".join(chosen) or "none"))
    return redirect(url_for("users.index", done="group-saved", names=name))


@groups.post("/delete")
async def delete() -> ResponseReturnValue:
    context, form = admin_context(), await request.form
    known = {group.name for group in await context.accounts.groups()} - {ADMINISTRATORS}
    names = sorted(set(form.getlist("selected")) & known)
    if not names:
        return redirect(url_for("users.index", done="no-groups"))
    if form.get("confirm") != "yes":
        return await render_template("confirm_delete.html", what="groups", names=names,
                                     action=url_for("groups.delete"), back=url_for("users.index"))
    for name in names:
        await context.accounts.delete_group(name)
        await context.actions.record(signed_in().user.name, Verb.DELETED, ObjectKind.GROUP, name)
    return redirect(url_for("users.index", done="groups-deleted", names=",".join(names)))
