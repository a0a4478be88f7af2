"""Failed sign-ins counted in Redis per user name and per client address, in a fixed window.

While either count is at its limit, sign-ins are refused before the password is even checked.
"""

from __future__ import annotations

from redis.asyncio import Redis

from shared.keys import Keys


class SigninLimiter:
    def __init__(self, redis: Redis, keys: Keys, *, per_user: int, per_address: int, window_s: int) -> None:
        self.redis, self.keys, self.window_s = redis, keys, window_s
        self.limits = {"user": per_user, "addr": per_address}

    def _keys(self, user: str, address: str) -> dict[str, str]:
        return {"user": self.keys.admin_signin_failures("user", user[:64]),
                "addr": self.keys.admin_signin_failures("addr", address[:64])}

    async def retry_after(self, user: str, address: str) -> int | None:
        """Seconds until a sign-in may be tried again, or None when it may be tried now."""
        waits = []
        for scope, key in self._keys(user, address).items():
            count = await self.redis.get(key)
            if count is not None and int(count) >= self.limits[scope]:
                waits.append(max(int(await self.redis.ttl(key)), 1))
        return max(waits) if waits else None

    async def failed(self, user: str, address: str) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in self._keys(user, address).values():
                # SET NX starts the window; INCR keeps its expiry (works on Redis 6.2).
                pipe.set(key, 0, ex=self.window_s, nx=True)
                pipe.incr(key)
            await pipe.execute()

    async def succeeded(self, user: str) -> None:
        await self.redis.delete(self.keys.admin_signin_failures("user", user[:64]))
