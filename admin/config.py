"""The admin panel's policy: the ``AdminSettings`` values plus the password hasher.

Built from the settings in production (``AdminPolicy.from_settings``); tests pass a cheaper
hasher and lower limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher

from admin.signin_limits import BASE_DELAY_S
from shared.client_address import Network, ProxySettings
from shared.settings import AdminSettings


@dataclass(frozen=True)
class AdminPolicy:
    # A sign-in lasts this long, however active (absolute expiry of cookie and Redis record).
    session_ttl_s: int = 8 * 3600
    # Failed sign-ins allowed per user name and per client address within the window.
    max_failures_per_user: int = 5
    max_failures_per_address: int = 20
    max_signin_delay_s: float = 10.0
    # The first delay past the free failures (doubling); tests make it tiny.
    signin_base_delay_s: float = BASE_DELAY_S
    signin_window_s: int = 15 * 60
    # Reverse proxies whose X-Forwarded-For names the client (settings.proxy.trusted, parsed).
    trusted_proxies: tuple[Network, ...] = ()
    # Set behind HTTPS: the session cookie then travels only over TLS.
    secure_cookies: bool = False
    # Base URL of the check page for "view site"; None: the ingress's host and port.
    ingress_url: str | None = None
    # argon2id with the library's defaults (64 MiB, 3 passes, 4 lanes).
    password_hasher: PasswordHasher = field(default_factory=PasswordHasher)
    actions_maxlen: int = 10_000

    @classmethod
    def from_settings(cls, options: AdminSettings, proxy: ProxySettings | None = None) -> AdminPolicy:
        return cls(
            session_ttl_s=options.session_ttl_s, max_failures_per_user=options.max_failures_per_user,
            max_failures_per_address=options.max_failures_per_address, signin_window_s=options.signin_window_s,
            max_signin_delay_s=options.max_signin_delay_s, secure_cookies=options.secure_cookies,
            ingress_url=options.ingress_url, trusted_proxies=proxy.networks() if proxy else (),
        )
