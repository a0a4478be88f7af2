"""Sign in, sign out, change password."""

from __future__ import annotations

import logging

import anyio
from quart import Blueprint, redirect, render_template, request, url_for
from quart.typing import ResponseReturnValue

from admin.actions import ObjectKind, Verb
from admin.context import admin_context, identity, signed_in
from admin.guard import safe_next
from admin.passwords import password_problem
from admin.web_sessions import COOKIE
from shared.client_address import client_address

log = logging.getLogger(__name__)
auth = Blueprint("auth", __name__)


def _address() -> str:
    """The client, behind a trusted proxy the forwarded one (the ingress uses the same rule)."""
    return client_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"),
                          admin_context().policy.trusted_proxies)


@auth.route("/signin", methods=["GET", "POST"])
async def signin() -> ResponseReturnValue:
    next_page = safe_next(request.args.get("next"))
    if request.method == "GET":
        if identity() is not None:
            return redirect(next_page or url_for("home.index"))
        return await render_template("signin.html", next_page=next_page)
    context, form = admin_context(), await request.form
    name, password = form.get("username", "").strip().lower()[:64], form.get("password", "")
    next_page = safe_next(form.get("next"))
    address = _address()
    wait = await context.limiter.attempt(name)
    if wait is not None:
        log.warning("sign-in refused for %r from %s: too many failures for that user", name, address)
        message = f"Too many failed sign-ins. Try again in {(wait + 59) // 60} minute(s)."
        page = await render_template("signin.html", next_page=next_page, error=message, username=name)
        return page, 429, {"Retry-After": str(wait)}
    if delay := await context.limiter.delay(address):
        log.warning("sign-in for %r from %s slowed by %.1f s: many failures from that address", name, address, delay)
        await anyio.sleep(delay)
    user = await context.accounts.user(name) if name else None
    if not await context.passwords.verify(user.password_hash if user else None, password) or user is None:
        await context.limiter.failed(address)
        log.warning("failed sign-in for %r from %s", name, address)
        page = await render_template("signin.html", next_page=next_page, username=name,
                                     error="Wrong user name or password.")
        return page, 401
    await context.limiter.succeeded(name)
    if context.passwords.needs_rehash(user.password_hash):
        user = user.model_copy(update={"password_hash": await context.passwords.hash(password)})
        await context.accounts.save_user(user)
    previous = identity()
    if previous is not None:
        await context.sessions.delete(previous.token)
    token, _ = await context.sessions.create(user.name, user.session_epoch)
    log.info("%r signed in from %s", user.name, address)
    target = url_for("auth.password") if user.must_change_password else next_page or url_for("home.index")
    response = redirect(target)
    response.set_cookie(COOKIE, token, max_age=context.policy.session_ttl_s, httponly=True, samesite="Lax",
                        secure=context.policy.secure_cookies)
    return response


@auth.post("/signout")
async def signout() -> ResponseReturnValue:
    found = identity()
    if found is not None:
        await admin_context().sessions.delete(found.token)
    response = redirect(url_for("auth.signin"))
    response.delete_cookie(COOKIE)
    return response


@auth.route("/password", methods=["GET", "POST"])
async def password() -> ResponseReturnValue:
    me = signed_in()
    if request.method == "GET":
        return await render_template("password.html", forced=me.user.must_change_password)
    context, form = admin_context(), await request.form
    current, new = form.get("current", ""), form.get("new", "")
    problem = password_problem(new, form.get("confirm", ""), current=current, user=me.user.name)
    if problem is None and not await context.passwords.verify(me.user.password_hash, current):
        problem = "The current password is wrong."
    if problem is not None:
        page = await render_template("password.html", forced=me.user.must_change_password, error=problem)
        return page, 400
    # Re-read the user: the epoch must move on from what is stored now.
    user = await context.accounts.user(me.user.name) or me.user
    epoch = user.session_epoch + 1
    await context.accounts.save_user(user.model_copy(update={
        "password_hash": await context.passwords.hash(new), "must_change_password": False, "session_epoch": epoch,
    }))
    await context.sessions.set_epoch(me.token, me.session, epoch)
    await context.actions.record(me.user.name, Verb.CHANGED_PASSWORD, ObjectKind.USER, me.user.name)
    return redirect(url_for("home.index", done="password"))
