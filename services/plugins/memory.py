"""Per-session plugin state in Redis (JSON of the plugin's pydantic model, session TTL).

The plugins of one frame get their states in one MGET before they run, and their saves go back
in one pipeline after, instead of a GET and a SET per plugin: with the four built-in plugins, 8
round trips a frame became 2 (each costs the plugins process and Redis a command's parsing and a
socket write: docs/capacity.md). A plugin still sees its own save when it loads again within
the frame.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel
from redis.asyncio import Redis

from shared.keys import Keys
from shared.plugin_protocol import SessionMemory, StateT


class _FrameMemory:
    """One plugin's state for one frame: what was read, and what it saved (written by ``flush``)."""

    def __init__(self, raw: bytes | None) -> None:
        self.raw, self.saved = raw, False

    async def load(self, model: type[StateT]) -> StateT | None:
        return None if self.raw is None else model.model_validate_json(self.raw)

    async def save(self, state: BaseModel) -> None:
        self.raw, self.saved = state.model_dump_json().encode(), True


class FrameMemories:
    def __init__(self, redis: Redis, keys: Keys, session_id: str, ttl_s: int) -> None:
        self.redis, self.keys, self.session_id, self.ttl_s = redis, keys, session_id, ttl_s
        self._memories: dict[str, _FrameMemory] = {}

    async def load(self, plugins: Sequence[str]) -> None:
        """Every named plugin's state for this session, in one round trip."""
        keys = [self.keys.plugin_state(name, self.session_id) for name in plugins]
        values = await self.redis.mget(keys) if keys else []
        self._memories = {name: _FrameMemory(raw) for name, raw in zip(plugins, values, strict=True)}

    def of(self, plugin: str) -> SessionMemory:
        """The plugin's memory: one ``load`` named it (else its state would look absent)."""
        return self._memories[plugin]

    async def flush(self) -> None:
        """What the plugins saved, in one round trip (before their verdicts are published, so the
        session's next frame finds it)."""
        saved = {name: memory.raw for name, memory in self._memories.items() if memory.saved and memory.raw}
        if not saved:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for name, raw in saved.items():
                pipe.set(self.keys.plugin_state(name, self.session_id), raw, ex=self.ttl_s)
            await pipe.execute()
