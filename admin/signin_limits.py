"""Sign-in limits that slow attackers down without locking everyone out (docs: README, admin).

* Per user name: an attempt is counted *before* its password is checked (so parallel guesses
  cannot overshoot), forgotten on success; past ``per_user`` within the window that user is
  refused (429) until the window ends. Only that user: others, from any address, are not affected.
* Per client address (shared/client_address.py: behind a trusted proxy, the forwarded one): failed
  sign-ins beyond ``per_address`` make every later attempt from that address wait, the delay
  doubling per failure up to ``max_delay_s``. Never a refusal: the administrator behind the same
  office NAT or proxy still signs in with the right password, only slower.
"""

from __future__ import annotations

from redis.asyncio import Redis

from shared.keys import Keys

# The first delay once an address is past its free failures; it doubles with each further failure.
BASE_DELAY_S = 0.25


def address_delay(failures: int, free: int, max_delay_s: float, base_s: float = BASE_DELAY_S) -> float:
    """Seconds an attempt from an address with ``failures`` recent failures waits."""
    if failures < free:
        return 0.0
    return float(min(base_s * 2 ** min(failures - free, 32), max_delay_s))


class SigninLimiter:
    def __init__(self, redis: Redis, keys: Keys, *, per_user: int, per_address: int, window_s: int,
                 max_delay_s: float, base_delay_s: float = BASE_DELAY_S) -> None:
        self.redis, self.keys, self.window_s = redis, keys, window_s
        self.per_user, self.per_address = per_user, per_address
        self.max_delay_s, self.base_delay_s = max_delay_s, base_delay_s

    def _user(self, user: str) -> str:
        return self.keys.admin_signin_failures("user", user[:64])

    def _address(self, address: str) -> str:
        return self.keys.admin_signin_failures("addr", address[:64])

    async def attempt(self, user: str) -> int | None:
        """Count an attempt for ``user``; seconds until it may try again when it is locked, else None."""
        key = self._user(user)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=self.window_s, nx=True)  # SET NX starts the window; INCR keeps its expiry
            pipe.incr(key)
            pipe.ttl(key)
            _, attempts, ttl = await pipe.execute()
        return max(int(ttl), 1) if int(attempts) > self.per_user else None

    async def delay(self, address: str) -> float:
        failures = await self.redis.get(self._address(address))
        return address_delay(int(failures or 0), self.per_address, self.max_delay_s, self.base_delay_s)

    async def failed(self, address: str) -> None:
        """A wrong password (the user's attempt is counted already)."""
        key = self._address(address)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, 0, ex=self.window_s, nx=True)
            pipe.incr(key)
            await pipe.execute()

    async def succeeded(self, user: str) -> None:
        await self.redis.delete(self._user(user))
