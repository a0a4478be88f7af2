"""Users section, part 1: administrators (create, change groups, reset password, delete)."""

from __future__ import annotations

from quart import Blueprint, abort, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from admin.accounts import NAME_PATTERN, NAME_RULE, AdminUser, Section, new_user
from admin.actions import ObjectKind, Verb
from admin.context import admin_context, signed_in
from admin.guard import requires
from admin.notices import notice
from admin.passwords import password_problem

users = Blueprint("users", __name__, url_prefix="/users")
users.before_request(requires(Section.USERS))
NOTICES = {"created": "Created user {}.", "saved": "Saved user {}.", "deleted": "Deleted {}.",
           "none": "Select the users to delete first.", "self": "You cannot delete yourself.",
           "group-created": "Created group {}.", "group-saved": "Saved group {}.", "groups-deleted": "Deleted {}.",
           "no-groups": "Select the groups to delete first."}


async def _user(name: str) -> AdminUser:
    user = await admin_context().accounts.user(name) if NAME_PATTERN.match(name) else None
    if user is None:
        abort(404, f"There is no user {name!r}.")
    return user


async def _chosen_groups() -> tuple[str, ...]:
    known = {group.name for group in await admin_context().accounts.groups()}
    return tuple(sorted(set((await request.form).getlist("groups")) & known))


async def _render(template: str, status: int = 200, **values: object) -> ResponseReturnValue:
    groups = await admin_context().accounts.groups()
    return await render_template(template, groups=groups, **values), status


@users.get("/")
async def index() -> ResponseReturnValue:
    context = admin_context()
    return await render_template("users.html", users=await context.accounts.users(),
                                 groups=await context.accounts.groups(), notice=notice(NOTICES))


@users.route("/new", methods=["GET", "POST"])
async def create() -> ResponseReturnValue:
    if request.method == "GET":
        return await _render("user_form.html", user=None, chosen=())
    context, form = admin_context(), await request.form
    name, chosen = form.get("name", "").strip().lower(), await _chosen_groups()
    password = form.get("password", "")
    error = None if NAME_PATTERN.match(name) else f"A user name is {NAME_RULE}."
    error = error or password_problem(password, form.get("confirm", ""), user=name)
    if error is None:
        if await context.accounts.add_user(new_user(name, await context.passwords.hash(password), chosen)):
            await context.actions.record(signed_in().user.name, Verb.CREATED, ObjectKind.USER, name,
                                         "groups: " + (", ".join(chosen) or "none"))
            return redirect(url_for("users.index", done="created", names=name))
        error = "A user with this name exists already."
    return await _render("user_form.html", 400, user=None, chosen=chosen, name=name, error=error)


@users.route("/<name>", methods=["GET", "POST"])
async def edit(name: str) -> ResponseReturnValue:
    user = await _user(name)
    if request.method == "GET":
        return await _render("user_form.html", user=user, chosen=user.groups)
    context, form, me = admin_context(), await request.form, signed_in()
    chosen, password = await _chosen_groups(), form.get("password", "")
    error = password_problem(password, form.get("confirm", ""), user=name) if password else None
    if error is None and user.name == me.user.name:
        granted = {s for g in await context.accounts.groups() if g.name in chosen for s in g.sections}
        if Section.USERS not in granted:
            error = "You would lose access to this section: keep a group that grants Users."
    if error is not None:
        return await _render("user_form.html", 400, user=user, chosen=chosen, error=error)
    update: dict[str, object] = {"groups": chosen}
    if password:
        update.update(password_hash=await context.passwords.hash(password), must_change_password=True,
                      session_epoch=user.session_epoch + 1)
    await context.accounts.save_user(user.model_copy(update=update))
    await context.actions.record(me.user.name, Verb.UPDATED, ObjectKind.USER, name,
                                 "groups: " + (", ".join(chosen) or "none") + ("; password reset" if password else ""))
    return redirect(url_for("users.index", done="saved", names=name))


@users.post("/delete")
async def delete() -> ResponseReturnValue:
    context, form, me = admin_context(), await request.form, signed_in()
    known = {user.name for user in await context.accounts.users()}
    names = sorted(set(form.getlist("selected")) & known)
    if not names:
        return redirect(url_for("users.index", done="none"))
    if me.user.name in names:
        return redirect(url_for("users.index", done="self"))
    if form.get("confirm") != "yes":
        return await render_template("confirm_delete.html", what="users", names=names,
                                     action=url_for("users.delete"), back=url_for("users.index"))
    for name in names:
        await context.accounts.delete_user(name)
        await context.actions.record(me.user.name, Verb.DELETED, ObjectKind.USER, name)
    return redirect(url_for("users.index", done="deleted", names=",".join(names)))
