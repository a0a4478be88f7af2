"""What every view needs: the app-wide services, and the signed-in user of this request."""

from __future__ import annotations

from dataclasses import dataclass, field

from quart import current_app, g
from redis.asyncio import Redis

from admin.accounts import AccountStore, AdminUser, Section
from admin.actions import ActionLog
from admin.config import AdminPolicy
from admin.passwords import Passwords
from admin.signin_limits import SigninLimiter
from admin.web_sessions import WebSession, WebSessions
from shared.keys import Keys
from shared.settings import Settings

EXTENSION = "vigil_admin"


@dataclass(frozen=True)
class AdminContext:
    settings: Settings
    redis: Redis
    policy: AdminPolicy
    keys: Keys = field(init=False)
    accounts: AccountStore = field(init=False)
    passwords: Passwords = field(init=False)
    sessions: WebSessions = field(init=False)
    limiter: SigninLimiter = field(init=False)
    actions: ActionLog = field(init=False)

    def __post_init__(self) -> None:
        keys, redis, policy = Keys(self.settings.redis.key_prefix), self.redis, self.policy
        parts = {
            "keys": keys,
            "accounts": AccountStore(redis, keys),
            "passwords": Passwords(policy.password_hasher),
            "sessions": WebSessions(redis, keys, policy.session_ttl_s),
            "limiter": SigninLimiter(redis, keys, per_user=policy.max_failures_per_user,
                                     per_address=policy.max_failures_per_address, window_s=policy.signin_window_s,
                                     max_delay_s=policy.max_signin_delay_s, base_delay_s=policy.signin_base_delay_s),
            "actions": ActionLog(redis, keys, policy.actions_maxlen),
        }
        for name, value in parts.items():
            object.__setattr__(self, name, value)


@dataclass(frozen=True)
class Identity:
    user: AdminUser
    session: WebSession
    token: str
    sections: frozenset[Section]


def admin_context() -> AdminContext:
    context: AdminContext = current_app.extensions[EXTENSION]
    return context


def identity() -> Identity | None:
    found: Identity | None = g.get("identity")
    return found


def signed_in() -> Identity:
    """The signed-in identity (the guard has already turned anonymous requests away)."""
    found = identity()
    if found is None:
        raise RuntimeError("no signed-in user on a guarded page")
    return found
