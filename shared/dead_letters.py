"""A dead letter: an entry the consumer loop set aside in ``P:dead:{stream}`` (shared/consumer.py)
because it did not decode or failed ``bus.max_deliveries`` deliveries. Written and read with the
same fields here; read by ``vigil dead-letters`` and the admin's Dead letters page. The payload is
the entry's bytes as they came: it is only ever described (what it claims to be), never trusted.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from shared.bus import Fields, text
from shared.keys import Keys
from shared.recent import Page, newest_read


@dataclass(frozen=True, slots=True)
class DeadLetter:
    stream: str  # the stream's key the entry came from
    entry_id: str  # its id there
    group: str  # the consumer group that set it aside
    reason: str  # why: the decode error, or "failed N deliveries"
    payload: bytes  # the entry's message bytes as they were

    def fields(self) -> dict[FieldT, EncodableT]:
        return {"stream": self.stream, "id": self.entry_id, "group": self.group, "reason": self.reason,
                "payload": self.payload}

    @classmethod
    def from_fields(cls, fields: Fields) -> DeadLetter:
        """Lenient: a field missing (written by hand, or by another version) reads as ``?`` or empty."""
        return cls(stream=text(fields.get(b"stream", b"?")), entry_id=text(fields.get(b"id", b"?")),
                   group=text(fields.get(b"group", b"?")), reason=text(fields.get(b"reason", b"")),
                   payload=fields.get(b"payload", b""))

    @property
    def payload_kind(self) -> str:
        """What the payload says it is (its message type and version), without trusting it further."""
        try:
            body = msgpack.unpackb(self.payload, raw=False)
        except (ValueError, msgpack.UnpackException):
            return f"{len(self.payload)} bytes, not msgpack"
        if not isinstance(body, dict):
            return "not a message"
        return f"type {body.get('t')!r} v{body.get('v')!r}"


async def counts(redis: Redis, keys: Keys) -> list[tuple[str, int]]:
    """Each stream that has dead letters (``estimations``, ``frames``, ...) and how many, by name."""
    found = sorted([text(key) async for key in redis.scan_iter(match=keys.dead_letter("*"))])
    return [(key.removeprefix(keys.dead_letter("")), int(await redis.xlen(key))) for key in found]


async def newest_letters(redis: Redis, keys: Keys, stream: str, *, size: int,
                         before: str | None = None) -> Page[DeadLetter]:
    """The newest dead letters of ``stream`` (a name ``counts`` gives), a bounded page at a time."""
    return await newest_read(redis, keys.dead_letter(stream), DeadLetter.from_fields, size=size, before=before)
