"""Test support for the admin panel (it lived in ``admin/testing.py``; the product package no
longer ships it): driving the panel like a browser would: cookies, CSRF tokens from the pages, forms
with repeated fields, a chosen client address. Also a cheap password hasher for tests."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from argon2 import PasswordHasher
from quart import Quart
from quart.typing import TestClientProtocol
from quart.wrappers import Response

from admin.accounts import AdminGroup, Section, new_user
from admin.context import EXTENSION, AdminContext

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]*)"')
Form = Mapping[str, str | Sequence[str]]


def cheap_hasher() -> PasswordHasher:
    """argon2id with the smallest cost: the same code paths, fast enough for many tests."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Browser:
    """``address``: the TCP peer; ``forwarded_for``: an X-Forwarded-For header it sends (as a
    reverse proxy would, or as anyone could)."""

    def __init__(self, app: Quart, address: str = "127.0.0.1", forwarded_for: str | None = None) -> None:
        self.app, self.address = app, address
        self.headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        self.client: TestClientProtocol = app.test_client()

    @property
    def context(self) -> AdminContext:
        context: AdminContext = self.app.extensions[EXTENSION]
        return context

    async def get(self, path: str) -> Response:
        return await self.client.get(path, headers=self.headers, scope_base={"client": (self.address, 40000)})

    async def text(self, path: str) -> str:
        return await (await self.get(path)).get_data(as_text=True)

    async def csrf(self, page: str = "/signin") -> str:
        response = await self.client.get(page, follow_redirects=True, headers=self.headers,
                                         scope_base={"client": (self.address, 40000)})
        found = CSRF_INPUT.search(await response.get_data(as_text=True))
        if found is None:
            raise AssertionError(f"no CSRF field on {page}")
        return html.unescape(found.group(1))

    async def post(self, path: str, form: Form | None = None, *, token: str | None = None,
                   page: str | None = None) -> Response:
        """POST ``form`` with the CSRF token of ``page`` (default: ``path`` itself, else home),
        or exactly ``token`` when given ('' sends none)."""
        fields: dict[str, str | Sequence[str]] = dict(form or {})
        if token is None:
            token = await self.csrf(page or ("/signin" if path == "/signin" else "/"))
        if token:
            fields["csrf_token"] = token
        return await self.client.post(
            path, data=urlencode(fields, doseq=True),
            headers={"Content-Type": "application/x-www-form-urlencoded", **self.headers},
            scope_base={"client": (self.address, 40000)},
        )

    async def signin(self, name: str, password: str) -> Response:
        return await self.post("/signin", {"username": name, "password": password})


async def add_user(context: AdminContext, name: str, password: str, sections: tuple[Section, ...],
                   *, must_change: bool = False) -> None:
    """A user in a group of their own granting ``sections``."""
    group = AdminGroup(name=f"{name}-group", sections=sections)
    await context.accounts.save_group(group)
    hashed = await context.passwords.hash(password)
    await context.accounts.save_user(new_user(name, hashed, (group.name,), must_change=must_change))


async def signed_in_administrator(app: Quart, name: str = "root", password: str = "correct horse battery") -> Browser:
    """A browser signed in as an administrator (every section) whose password is already their own."""
    browser = Browser(app)
    await add_user(browser.context, name, password, tuple(Section))
    await browser.signin(name, password)
    return browser
