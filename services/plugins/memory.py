"""Per-session plugin state in Redis (JSON of the plugin's pydantic model, session TTL)."""

from __future__ import annotations

from pydantic import BaseModel
from redis.asyncio import Redis

from shared.keys import Keys
from shared.plugin_protocol import StateT


class RedisMemory:
    def __init__(self, redis: Redis, keys: Keys, plugin: str, session_id: str, ttl_s: int) -> None:
        self.redis, self.key, self.ttl_s = redis, keys.plugin_state(plugin, session_id), ttl_s

    async def load(self, model: type[StateT]) -> StateT | None:
        raw = await self.redis.get(self.key)
        return None if raw is None else model.model_validate_json(raw)

    async def save(self, state: BaseModel) -> None:
        await self.redis.set(self.key, state.model_dump_json(), ex=self.ttl_s)
