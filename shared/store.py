"""Typed access to the Redis hashes several processes read: one generic store of name -> JSON of a
model (UI configs, admin users and groups, live-settings layers), and plain field reads and writes.

redis-py types its sync and async clients as one union (a command "returns" ``Awaitable[T] | T``);
the casts that say "this is the async client" are made here once, so the callers need none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Generic, TypeVar, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from shared.bus import text
from shared.messages import Message
from shared.stored import from_stored_json, to_json_line

T = TypeVar("T", bound=Message)
Client = Redis | Pipeline  # a pipeline under WATCH answers commands at once, as the client does


async def hash_get(redis: Client, key: str, field: str) -> bytes | None:
    return await cast(Awaitable[bytes | None], redis.hget(key, field))


async def hash_get_many(redis: Client, key: str, fields: Sequence[str]) -> list[bytes | None]:
    return await cast(Awaitable[list[bytes | None]], redis.hmget(key, list(fields)))


async def hash_all(redis: Redis, key: str) -> dict[str, bytes]:
    """Every field of the hash ``key``, names decoded."""
    stored = await cast(Awaitable[dict[bytes, bytes]], redis.hgetall(key))
    return {text(name): value for name, value in stored.items()}


async def hash_set(redis: Redis, key: str, field: str, value: str) -> None:
    await cast(Awaitable[int], redis.hset(key, field, value))


async def hash_add(redis: Redis, key: str, field: str, amount: int = 1) -> int:
    """HINCRBY: the field's new count."""
    return await cast(Awaitable[int], redis.hincrby(key, field, amount))


class ModelHash(Generic[T]):
    """The hash ``key``: a name -> the JSON of one ``kind`` model with its type/version envelope
    (shared/stored.py). ``get`` and ``all`` raise ``MessageDecodeError`` for a stored value of
    another type or version, or one that no longer validates; the ``raw`` readers let a caller
    that lists or repairs them decide what to do with such a value."""

    def __init__(self, redis: Redis, key: str, kind: type[T]) -> None:
        self.redis, self.key, self.kind = redis, key, kind

    def parse(self, raw: bytes | str) -> T:
        return from_stored_json(self.kind, raw)

    async def raw(self, name: str, *, via: Client | None = None) -> bytes | None:
        """The stored JSON of ``name``; ``via``: a pipeline under WATCH, to read inside its transaction."""
        return await hash_get(self.redis if via is None else via, self.key, name)

    async def raw_many(self, names: Sequence[str]) -> list[bytes | None]:
        return await hash_get_many(self.redis, self.key, names)

    async def raw_all(self) -> dict[str, bytes]:
        return await hash_all(self.redis, self.key)

    async def get(self, name: str) -> T | None:
        raw = await self.raw(name)
        return None if raw is None else self.parse(raw)

    async def all(self) -> list[T]:
        return [self.parse(raw) for raw in (await self.raw_all()).values()]

    async def names(self) -> list[str]:
        """The stored names, sorted."""
        return sorted(text(name) for name in await cast(Awaitable[list[bytes]], self.redis.hkeys(self.key)))

    async def count(self) -> int:
        return await cast(Awaitable[int], self.redis.hlen(self.key))

    async def put(self, name: str, value: T) -> None:
        await hash_set(self.redis, self.key, name, to_json_line(value))

    def queue_put(self, pipe: Pipeline, name: str, value: T) -> None:
        """Queue the write on ``pipe`` (a transaction's other commands go with it)."""
        pipe.hset(self.key, name, to_json_line(value))

    async def put_new(self, name: str, value: T) -> bool:
        """Store ``value`` unless ``name`` is taken; whether it was stored."""
        return bool(await cast(Awaitable[int], self.redis.hsetnx(self.key, name, to_json_line(value))))

    async def delete(self, *names: str) -> None:
        await cast(Awaitable[int], self.redis.hdel(self.key, *names))
