"""Admin sign-in limits that cannot lock everyone out: the client address behind a trusted proxy
(shared/client_address.py, the rule the ingress will reuse), X-Forwarded-For from anyone else
ignored, per-address delays that grow instead of locking, per-user locks that touch only that user."""

from __future__ import annotations

import ipaddress
import time

import pytest
from quart import Quart
from redis.asyncio import Redis

from admin.accounts import Section
from admin.app import create_app
from admin.config import AdminPolicy
from admin.signin_limits import address_delay
from shared.client_address import ProxySettings, client_address, parse_networks
from shared.settings import Settings
from tests.admin_support import Browser, add_user, cheap_hasher

PASSWORD = "correct horse battery"
PROXY = "10.0.0.2"  # the reverse proxy every request comes through
TRUSTED = parse_networks([PROXY, "10.1.0.0/16"])
DELAY_S = 0.05  # the capped per-address delay in these tests: measurable, and short


@pytest.fixture
def app(settings: Settings, redis: Redis) -> Quart:
    policy = AdminPolicy(password_hasher=cheap_hasher(), max_failures_per_user=5, max_failures_per_address=20,
                         signin_base_delay_s=DELAY_S, max_signin_delay_s=DELAY_S, trusted_proxies=TRUSTED)
    return create_app(settings, redis, policy)


@pytest.mark.parametrize(("peer", "forwarded", "client"), [
    ("203.0.113.9", [], "203.0.113.9"),  # no proxy
    ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # X-Forwarded-For from a stranger: ignored
    (PROXY, ["198.51.100.1"], "198.51.100.1"),
    (PROXY, ["1.2.3.4, 198.51.100.1"], "198.51.100.1"),  # the client's own claim (left) is not read
    (PROXY, ["198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # past a second trusted proxy
    (PROXY, ["198.51.100.1", "10.1.2.3"], "198.51.100.1"),  # several header lines read as one list
    (PROXY, ["not-an-ip, 10.1.2.3"], "10.1.2.3"),  # garbage: the last hop we vouch for stands
    (PROXY, [], PROXY),
    (PROXY, ["[2001:db8::5]:443"], "2001:db8::5"),
    ("::ffff:10.0.0.2", ["198.51.100.1:5000"], "198.51.100.1"),  # v4-mapped peer, port on the entry
    (None, ["198.51.100.1"], "unknown"),
])
def test_the_client_address_rule(peer: str | None, forwarded: list[str], client: str) -> None:
    assert client_address(peer, forwarded, TRUSTED) == client


def test_trusted_proxies_are_validated() -> None:
    assert ProxySettings(trusted=("10.0.0.0/8", "::1")).networks() == (
        ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1"))
    with pytest.raises(ValueError, match="not an IP"):
        ProxySettings(trusted=("proxy.example",))


def test_the_address_delay_grows_and_is_capped() -> None:
    delays = [address_delay(failures, free=20, max_delay_s=10.0) for failures in (0, 19, 20, 21, 22, 25, 40, 10**6)]
    assert delays == [0.0, 0.0, 0.25, 0.5, 1.0, 8.0, 10.0, 10.0]


async def timed_signin(browser: Browser, name: str, password: str) -> tuple[int, float]:
    began = time.monotonic()
    response = await browser.signin(name, password)
    return response.status_code, time.monotonic() - began


@pytest.mark.anyio
async def test_25_failures_from_one_forwarded_address_do_not_stop_the_administrator(app: Quart) -> None:
    """The issue's case behind nginx: every request comes from the proxy's address."""
    attacker = Browser(app, PROXY, forwarded_for="198.51.100.66")
    await add_user(attacker.context, "root", PASSWORD, tuple(Section))
    for i in range(25):
        assert (await attacker.signin(f"made-up-{i}", "guess")).status_code == 401
    # Another forwarded address: not slowed at all (the count is on the forwarded address, not the proxy's).
    assert await attacker.context.limiter.delay("198.51.100.7") == 0
    assert await attacker.context.limiter.delay(PROXY) == 0
    assert (await Browser(app, PROXY, forwarded_for="198.51.100.7").signin("root", PASSWORD)).status_code == 302
    # The attacker's own address is slowed, yet a correct password from it still signs in.
    status, took = await timed_signin(Browser(app, PROXY, forwarded_for="198.51.100.66"), "root", PASSWORD)
    assert status == 302
    assert took >= DELAY_S


@pytest.mark.anyio
async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(app: Quart) -> None:
    liar = Browser(app, "203.0.113.50")
    await add_user(liar.context, "root", PASSWORD, tuple(Section))
    for i in range(25):
        # A fresh made-up forwarded address each time: it must not dodge the per-address count.
        liar.headers = {"X-Forwarded-For": f"198.51.100.{i}"}
        assert (await liar.signin(f"made-up-{i}", "guess")).status_code == 401
    assert await liar.context.limiter.delay("203.0.113.50") > 0
    assert await liar.context.limiter.delay("198.51.100.3") == 0


@pytest.mark.anyio
async def test_a_locked_user_is_refused_and_only_that_user(app: Quart) -> None:
    browser = Browser(app, PROXY, forwarded_for="198.51.100.20")
    await add_user(browser.context, "root", PASSWORD, tuple(Section))
    await add_user(browser.context, "alice", PASSWORD, (Section.STATISTICS,))
    for _ in range(5):
        assert (await browser.signin("alice", "wrong")).status_code == 401
    assert (await Browser(app, PROXY, forwarded_for="198.51.100.21").signin("alice", PASSWORD)).status_code == 429
    # Another account from the very same address: its correct password is not refused.
    assert (await browser.signin("root", PASSWORD)).status_code == 302
