"""Admin panel: sign-in, first administrator, rate limits, CSRF, cookies, sections (403),
users and groups, recent actions. Quart test client on a real Redis (tests/conftest.py)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import replace

import pytest
from quart import Quart
from redis.asyncio import Redis

from admin.accounts import ADMINISTRATORS, Section
from admin.app import create_app
from admin.bootstrap import FIRST_ADMIN, create_first_admin, reset_password
from admin.config import AdminPolicy
from infra.redis_server import RedisServer, free_port
from shared.settings import Settings
from tests.admin_support import Browser, Form, add_user, cheap_hasher

POLICY = AdminPolicy(password_hasher=cheap_hasher(), max_failures_per_user=3, max_failures_per_address=5,
                     signin_base_delay_s=0.001, max_signin_delay_s=0.01)
PASSWORD = "correct horse battery"
SIZES = {"image_width": "640", "image_height": "480", "video_width": "640", "video_height": "480"}
SECTION_PAGES = {
    Section.UI_CONFIGS: ["/ui-configs/", "/ui-configs/new"],
    Section.SETTINGS: ["/settings/"],
    Section.STATISTICS: ["/statistics/", "/statistics/?period=week"],
    Section.SESSIONS: ["/sessions/", "/limits/", "/plugin-events/", "/videos/", "/dead-letters/",
                       "/dead-letters/frames"],
    Section.USERS: ["/users/", "/users/new", "/groups/new", f"/groups/{ADMINISTRATORS}"],
}
SECTION_POSTS: dict[Section, tuple[str, Form]] = {
    Section.UI_CONFIGS: ("/ui-configs/new", {"name": "x", "mode": "selfie"}),
    Section.USERS: ("/groups/new", {"name": "sneaky", "sections": ["users"]}),
}


@pytest.fixture
def app(settings: Settings, redis: Redis) -> Quart:
    return create_app(settings, redis, POLICY)


@pytest.fixture
def browser(app: Quart) -> Callable[..., Browser]:
    return lambda address="127.0.0.1": Browser(app, address)


async def signed_in_admin(app: Quart) -> Browser:
    """A browser signed in as an administrator whose password is already their own."""
    browser = Browser(app)
    await add_user(browser.context, "root", PASSWORD, tuple(Section))
    assert (await browser.signin("root", PASSWORD)).status_code == 302
    return browser


@pytest.mark.anyio
@pytest.mark.parametrize("path", [
    "/", "/password", "/ui-configs/", "/ui-configs/new", "/ui-configs/default/edit", "/users/", "/users/new",
    "/groups/new", "/statistics/", "/sessions/", "/sessions/abc", "/plugin-events/", "/videos/", "/dead-letters/",
    "/dead-letters/frames", "/settings/",
])
async def test_every_page_requires_sign_in(app: Quart, path: str) -> None:
    response = await Browser(app).get(path)
    assert response.status_code == 302
    assert response.location.startswith("/signin?next=")


@pytest.mark.anyio
async def test_sign_in_page_health_and_css_are_public(app: Quart) -> None:
    browser = Browser(app)
    page = await browser.get("/signin")
    assert page.status_code == 200
    assert "csrf_token" in await page.get_data(as_text=True)
    assert (await browser.get("/health")).status_code == 200
    assert (await browser.get("/static/admin.css")).status_code == 200
    # An anonymous POST elsewhere is sent to sign in, never served.
    assert (await browser.post("/ui-configs/new", {"name": "x"})).status_code == 302


@pytest.mark.anyio
async def test_first_start_creates_an_administrator_with_a_generated_password(
    app: Quart, caplog: pytest.LogCaptureFixture,
) -> None:
    browser = Browser(app)
    context = browser.context
    with caplog.at_level(logging.WARNING, logger="admin.bootstrap"):
        password = await create_first_admin(context.accounts, context.passwords, context.actions)
    assert password is not None
    assert len(password) >= 16
    assert [r for r in caplog.records if password in r.getMessage()], "the password is printed once in the log"
    assert await create_first_admin(context.accounts, context.passwords, context.actions) is None
    user = await context.accounts.user(FIRST_ADMIN)
    assert user is not None
    assert user.must_change_password
    assert user.groups == (ADMINISTRATORS,)
    assert user.password_hash.startswith("$argon2id$")
    assert password not in user.password_hash

    assert (await browser.signin("admin", "admin")).status_code == 401  # no admin/admin
    response = await browser.signin("admin", password)
    assert (response.status_code, response.location) == (302, "/password")
    # Until the password is changed, every page leads to the password form.
    assert (await browser.get("/ui-configs/")).location == "/password"
    form = {"current": password, "new": "a new secret phrase", "confirm": "a new secret phrase"}
    wrong = await browser.post("/password", {**form, "current": "nope"}, page="/password")
    assert wrong.status_code == 400
    assert "current password is wrong" in await wrong.get_data(as_text=True)
    short = await browser.post("/password", {**form, "new": "short", "confirm": "short"}, page="/password")
    assert short.status_code == 400
    same = await browser.post("/password", {**form, "new": password, "confirm": password}, page="/password")
    assert same.status_code == 400
    done = await browser.post("/password", form, page="/password")
    assert done.status_code == 302
    home = await browser.text(done.location)
    assert "Your password has been changed." in home
    assert "changed the password of" in home
    assert (await browser.get("/ui-configs/")).status_code == 200
    # The old password no longer works; the new one does, without a forced change.
    again = Browser(app)
    assert (await again.signin("admin", password)).status_code == 401
    assert (await again.signin("admin", "a new secret phrase")).location == "/"


@pytest.mark.anyio
async def test_password_change_and_reset_end_other_sign_ins(app: Quart) -> None:
    first = await signed_in_admin(app)
    second = Browser(app)
    await second.signin("root", PASSWORD)
    assert (await second.get("/")).status_code == 200
    form = {"current": PASSWORD, "new": "another long phrase", "confirm": "another long phrase"}
    assert (await first.post("/password", form)).status_code == 302
    assert (await first.get("/")).status_code == 200  # this sign-in goes on
    assert (await second.get("/")).status_code == 302  # the other one ended
    context = first.context
    fresh = await reset_password(context.accounts, context.passwords, context.actions, "root")
    assert (await first.get("/")).status_code == 302
    assert (await first.signin("root", fresh)).location == "/password"


@pytest.mark.anyio
async def test_failed_sign_ins_are_rate_limited_per_user(app: Quart) -> None:
    browser = Browser(app)
    await add_user(browser.context, "alice", PASSWORD, (Section.STATISTICS,))
    for _ in range(POLICY.max_failures_per_user):
        assert (await browser.signin("alice", "wrong password")).status_code == 401
    blocked = await browser.signin("alice", PASSWORD)  # even the right password waits now
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= POLICY.signin_window_s
    assert "Too many failed sign-ins" in await blocked.get_data(as_text=True)
    # From another address too: the limit is on the user name.
    assert (await Browser(app, "10.0.0.9").signin("alice", PASSWORD)).status_code == 429
    # Another user is not affected.
    await add_user(browser.context, "bob", PASSWORD, (Section.STATISTICS,))
    assert (await Browser(app, "10.0.0.8").signin("bob", PASSWORD)).status_code == 302


@pytest.mark.anyio
async def test_failed_sign_ins_from_an_address_slow_it_down_but_never_lock_it(app: Quart) -> None:
    """Per address: a growing delay, never a refusal (tests/test_admin_signin_limits.py has the rest)."""
    attacker = Browser(app, "192.0.2.7")
    await add_user(attacker.context, "carol", PASSWORD, (Section.STATISTICS,))
    for i in range(POLICY.max_failures_per_address + 2):
        assert (await attacker.signin(f"guess{i}", "wrong password")).status_code == 401
    assert await attacker.context.limiter.delay("192.0.2.7") > 0
    assert (await attacker.signin("carol", PASSWORD)).status_code == 302  # slower, not refused
    assert (await Browser(app, "192.0.2.8").signin("carol", PASSWORD)).status_code == 302


@pytest.mark.anyio
async def test_forms_without_the_right_csrf_token_are_rejected(app: Quart) -> None:
    anonymous = Browser(app)
    await add_user(anonymous.context, "root", PASSWORD, tuple(Section))
    assert (await anonymous.post("/signin", {"username": "root", "password": PASSWORD}, token="")).status_code == 400
    assert (await anonymous.post("/signin", {"username": "root", "password": PASSWORD},
                                 token="forged")).status_code == 400
    admin = await signed_in_admin(app)
    other = await signed_in_admin(app)
    form = {"name": "csrf-test", "mode": "selfie", **SIZES}
    assert (await admin.post("/ui-configs/new", form, token="")).status_code == 400
    assert (await admin.post("/ui-configs/new", form, token="forged")).status_code == 400
    # A token from another sign-in does not do either.
    page = await admin.post("/ui-configs/new", form, token=await other.csrf("/"))
    assert page.status_code == 400
    assert "security token" in await page.get_data(as_text=True)
    assert (await admin.post("/signout", token="")).status_code == 400
    assert not await admin.context.redis.hexists(admin.context.keys.ui_configs, "csrf-test")  # type: ignore[misc]
    assert (await admin.post("/ui-configs/new", form)).status_code == 302


@pytest.mark.anyio
async def test_session_cookie_is_http_only_same_site_and_expiring(settings: Settings, redis: Redis) -> None:
    app = create_app(settings, redis, replace(POLICY, session_ttl_s=8 * 3600))
    browser = Browser(app)
    await add_user(browser.context, "root", PASSWORD, tuple(Section))
    response = await browser.signin("root", PASSWORD)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("vigil_admin="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Max-Age=28800" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    stored = [key async for key in redis.scan_iter(match=f"{settings.redis.key_prefix}:admin:session:*")]
    assert len(stored) == 1
    assert token.encode() not in stored[0]
    assert 0 < await redis.ttl(stored[0]) <= 8 * 3600
    assert (await browser.post("/signout")).location == "/signin"
    assert not await redis.exists(stored[0])
    assert (await browser.get("/")).status_code == 302


@pytest.mark.anyio
async def test_sign_in_goes_back_to_the_page_asked_for_but_never_off_site(app: Quart) -> None:
    browser = Browser(app)
    await add_user(browser.context, "root", PASSWORD, tuple(Section))
    form = {"username": "root", "password": PASSWORD}
    assert (await browser.post("/signin", {**form, "next": "/statistics/"})).location == "/statistics/"
    assert (await browser.post("/signin", {**form, "next": "//evil.example/"})).location == "/"


@pytest.mark.anyio
@pytest.mark.parametrize("section", list(Section))
async def test_each_section_is_403_without_access(app: Quart, section: Section) -> None:
    without, only = Browser(app), Browser(app)
    await add_user(without.context, "without", PASSWORD, tuple(s for s in Section if s is not section))
    await add_user(only.context, "only", PASSWORD, (section,))
    await without.signin("without", PASSWORD)
    await only.signin("only", PASSWORD)
    for path in SECTION_PAGES[section]:
        assert (await without.get(path)).status_code == 403, path
        assert (await only.get(path)).status_code == 200, path
    if section in SECTION_POSTS:
        path, form = SECTION_POSTS[section]
        assert (await without.post(path, form)).status_code == 403
    home = await without.text("/")
    assert f'href="{SECTION_PAGES[section][0]}"' not in home  # the menu hides it too
    assert f'href="{SECTION_PAGES[section][0]}"' in await only.text("/")


@pytest.mark.anyio
async def test_users_and_groups_grant_sections(app: Quart) -> None:
    admin = await signed_in_admin(app)
    created = await admin.post("/groups/new", {"name": "ops", "sections": ["statistics", "sessions"]})
    assert created.status_code == 302
    form = {"name": "alice", "groups": ["ops"], "password": "first pass phrase", "confirm": "first pass phrase"}
    assert (await admin.post("/users/new", form)).status_code == 302
    assert (await admin.post("/users/new", form)).status_code == 400  # the name is taken
    bad = await admin.post("/users/new", {**form, "name": "Bad Name!"})
    assert bad.status_code == 400
    assert "A user name is" in await bad.get_data(as_text=True)

    alice = Browser(app)
    assert (await alice.signin("alice", "first pass phrase")).location == "/password"
    new = {"current": "first pass phrase", "new": "my own pass phrase", "confirm": "my own pass phrase"}
    await alice.post("/password", new, page="/password")
    assert (await alice.get("/statistics/")).status_code == 200
    assert (await alice.get("/ui-configs/")).status_code == 403

    await admin.post("/groups/ops", {"sections": ["statistics", "ui_configs"]}, page="/groups/ops")
    assert (await alice.get("/ui-configs/")).status_code == 200
    assert (await alice.get("/sessions/")).status_code == 403
    assert (await admin.post(f"/groups/{ADMINISTRATORS}", {"sections": []})).status_code == 403

    # Deleting a group asks first, then takes it away from its members.
    confirm = await admin.post("/groups/delete", {"selected": ["ops"]})
    text = await confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "Yes, I'm sure" in text
    assert "No, take me back" in text
    assert (await admin.post("/groups/delete", {"selected": ["ops"], "confirm": "yes"})).status_code == 302
    assert (await alice.get("/statistics/")).status_code == 403
    user = await admin.context.accounts.user("alice")
    assert user is not None
    assert user.groups == ()


@pytest.mark.anyio
async def test_an_administrator_cannot_lock_themselves_out(app: Quart) -> None:
    admin = await signed_in_admin(app)
    response = await admin.post("/users/root", {"groups": []}, page="/users/root")
    assert response.status_code == 400
    assert "lose access" in await response.get_data(as_text=True)
    assert (await admin.post("/users/delete", {"selected": ["root"], "confirm": "yes"})).location.endswith(
        "done=self")
    assert await admin.context.accounts.user("root") is not None


@pytest.mark.anyio
async def test_recent_actions_list_who_did_what_and_when_with_links(app: Quart) -> None:
    admin = await signed_in_admin(app)
    await admin.post("/ui-configs/new", {"name": "shop", "mode": "selfie", **SIZES})
    await admin.post("/groups/new", {"name": "viewers", "sections": ["statistics"]})
    await admin.post("/users/new", {"name": "dave", "groups": ["viewers"], "password": "initial phrase 1",
                                    "confirm": "initial phrase 1"})
    await admin.post("/ui-configs/delete", {"selected": ["shop"], "confirm": "yes"})
    actions = await admin.context.actions.latest()
    assert [(a.actor, a.verb.value, a.kind.value, a.object_id) for a in actions] == [
        ("root", "deleted", "ui_config", "shop"),
        ("root", "created", "user", "dave"),
        ("root", "created", "group", "viewers"),
        ("root", "created", "ui_config", "shop"),
    ]
    home = await admin.text("/")
    assert 'href="/users/dave"' in home
    assert 'href="/groups/viewers"' in home
    assert '<span class="gone">shop</span>' in home  # a deleted object has no link
    assert "root" in home
    assert " UTC" in home


@pytest.mark.e2e  # runs `python -m admin` and its panel
def test_python_m_admin_prints_the_first_password_once_and_serves(redis_server: RedisServer, prefix: str) -> None:
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}, "VIGIL_ENV": "development",
           "VIGIL_REDIS__URL": redis_server.url, "VIGIL_REDIS__KEY_PREFIX": prefix, "VIGIL_ADMIN__PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "admin"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/signin", timeout=2) as page:
                    assert page.status == 200
                    assert "Sign in" in page.read().decode()
                break
            except OSError:
                assert time.monotonic() < deadline, "the admin panel did not start"
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
            assert page.url.endswith("/signin?next=/")
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0].decode()
    found = re.findall(r"created administrator 'admin' with password (\S+)", output)
    assert len(found) == 1, output
    reset = subprocess.run([sys.executable, "-m", "admin", "set-password", "admin"], env=env, capture_output=True,
                           text=True, timeout=30, check=True)
    assert "new password for admin: " in reset.stdout
    assert found[0] not in reset.stdout
