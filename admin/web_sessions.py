"""Signed-in sessions: a random token in an HttpOnly cookie, its record in Redis under the
token's SHA-256 (a Redis reader cannot sign in with what it sees), with the CSRF token."""

from __future__ import annotations

import hashlib
import secrets
import time

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from shared.keys import Keys

COOKIE = "vigil_admin"
# Before sign-in, forms carry a token matching this cookie (double submit).
ANONYMOUS_CSRF_COOKIE = "vigil_admin_csrf"


class WebSession(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str
    csrf: str
    epoch: int
    created_at: float


def new_token() -> str:
    return secrets.token_urlsafe(32)


class WebSessions:
    def __init__(self, redis: Redis, keys: Keys, ttl_s: int) -> None:
        self.redis, self.keys, self.ttl_s = redis, keys, ttl_s

    def _key(self, token: str) -> str:
        return self.keys.admin_session(hashlib.sha256(token.encode()).hexdigest())

    async def create(self, user: str, epoch: int) -> tuple[str, WebSession]:
        token = new_token()
        session = WebSession(user=user, csrf=new_token(), epoch=epoch, created_at=time.time())
        await self.redis.set(self._key(token), session.model_dump_json(), ex=self.ttl_s)
        return token, session

    async def load(self, token: str) -> WebSession | None:
        if not token or len(token) > 128:
            return None
        raw = await self.redis.get(self._key(token))
        return WebSession.model_validate_json(raw) if raw is not None else None

    async def set_epoch(self, token: str, session: WebSession, epoch: int) -> WebSession:
        """Keep this sign-in valid after a password change (other sign-ins lapse)."""
        updated = session.model_copy(update={"epoch": epoch})
        await self.redis.set(self._key(token), updated.model_dump_json(), keepttl=True, xx=True)
        return updated

    async def delete(self, token: str) -> None:
        await self.redis.delete(self._key(token))
