"""Every request passes here: who is signed in, sign-in required, CSRF, forced password change,
sections, and the security headers of every answer."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from markupsafe import Markup, escape
from quart import Quart, Response, abort, g, redirect, request, url_for
from quart.typing import ResponseReturnValue

from admin.accounts import Section
from admin.context import Identity, admin_context, identity
from admin.web_sessions import ANONYMOUS_CSRF_COOKIE, COOKIE, new_token

CSRF_FIELD = "csrf_token"
PUBLIC_ENDPOINTS = frozenset({"auth.signin", "home.theme", "static", "health"})
PASSWORD_ENDPOINTS = frozenset({"auth.password", "auth.signout", "home.theme", "static"})
# media-src: the session page plays the session's video from this site.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; media-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site (no open redirect), else None."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def csrf_token() -> str:
    """The token the current page's forms must send back (template global)."""
    found = identity()
    if found is not None:
        return found.session.csrf
    token = request.cookies.get(ANONYMOUS_CSRF_COOKIE) or g.get("new_anonymous_csrf")
    if not token:
        token = g.new_anonymous_csrf = new_token()
    return str(token)


def csrf_input() -> Markup:
    """The hidden field every form carries (template global)."""
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(csrf_token())}">')


async def _load_identity() -> None:
    context = admin_context()
    token = request.cookies.get(COOKIE, "")
    session = await context.sessions.load(token) if token else None
    if session is None:
        return
    user = await context.accounts.user(session.user)
    if user is None or user.session_epoch != session.epoch:
        return
    g.identity = Identity(user, session, token, await context.accounts.sections(user))


async def _check_csrf() -> None:
    found = identity()
    expected = found.session.csrf if found is not None else request.cookies.get(ANONYMOUS_CSRF_COOKIE, "")
    sent = (await request.form).get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, "The form's security token is missing or out of date: reload the page and try again.")


async def before() -> ResponseReturnValue | None:
    await _load_identity()
    found = identity()
    if found is None and request.endpoint not in PUBLIC_ENDPOINTS:
        query = request.query_string.decode()
        return redirect(url_for("auth.signin", next=request.path + (f"?{query}" if query else "")))
    if request.method == "POST":
        await _check_csrf()
    if found is not None and found.user.must_change_password and request.endpoint not in PASSWORD_ENDPOINTS:
        return redirect(url_for("auth.password"))
    return None


def requires(section: Section) -> Callable[[], Awaitable[None]]:
    """A blueprint ``before_request`` hook: 403 unless the user's groups grant ``section``."""
    async def check() -> None:
        found = identity()
        if found is None or section not in found.sections:
            abort(403, f"Your groups do not grant access to {section.label}.")
    return check


async def after(response: Response) -> Response:
    policy = admin_context().policy
    token = g.get("new_anonymous_csrf")
    if token:
        response.set_cookie(ANONYMOUS_CSRF_COOKIE, token, httponly=True, samesite="Strict",
                            secure=policy.secure_cookies)
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response


def install(app: Quart) -> None:
    app.before_request(before)
    app.after_request(after)
