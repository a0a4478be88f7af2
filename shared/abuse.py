"""The abuse limits' stored values and the operations the admin panel shares with the ingress:
a block (one address, device or user key refused new sessions until it expires), listed and
lifted. The counting itself is the ingress's (services/ingress/limits.py); key names are in
shared/keys.py."""

from __future__ import annotations

import hashlib
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

from shared.keys import Keys
from shared.store import hash_all

VERSION = 1


class Scope(StrEnum):
    ADDRESS = "address"
    DEVICE = "device"  # the check page's stable random id (header device-id)
    USER = "user"  # the relying party's own key for the person (header user-key)


class Block(BaseModel):
    """``P:abuse:block:{scope}:{value}``: why and until when new sessions are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = VERSION
    scope: Scope
    value: str
    failures: int
    since: float  # epoch s
    until: float


def key_value(scope: Scope, raw: str) -> str:
    """What names a client in a key: the address as it is; a device or user key, which the client
    chose, as a SHA-256 prefix (no client text in key names, no personal key stored)."""
    return raw if scope is Scope.ADDRESS else hashlib.sha256(raw.encode()).hexdigest()[:32]


async def blocks(redis: Redis, keys: Keys) -> list[Block]:
    """Every block in force, newest first; a stored value that no longer validates is skipped."""
    found = []
    async for key in redis.scan_iter(match=keys.abuse_blocks, count=500):
        raw = await redis.get(key)
        if raw is None:
            continue  # expired between SCAN and GET
        try:
            found.append(Block.model_validate_json(raw))
        except ValueError:
            continue
    return sorted(found, key=lambda block: block.since, reverse=True)


async def lift(redis: Redis, keys: Keys, scope: Scope, value: str) -> bool:
    """Remove a block and the failures that led to it; False when there was none."""
    removed = await redis.delete(keys.abuse_block(scope, value), keys.abuse_failures(scope, value))
    return bool(removed)


async def refusals(redis: Redis, keys: Keys) -> dict[str, int]:
    return {name: int(count) for name, count in sorted((await hash_all(redis, keys.abuse_refusals)).items())}
