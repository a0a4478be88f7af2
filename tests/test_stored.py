"""Stored values (shared/stored.py): the messages' envelope, refused clearly when another version
wrote them, and what their readers do then."""

from __future__ import annotations

import json
import time

import msgpack
import numpy as np
import pytest
from redis.asyncio import Redis

from admin.accounts import AdminGroup
from services.decider.state import AuditEvent, AuditKind
from services.decider.store import SessionStore
from services.estimator.parallax import Reference, ReferenceStore
from services.estimator.temporal import POINTS, Track
from shared.audit import SessionState
from shared.bus import add
from shared.errors import MessageDecodeError
from shared.keys import Keys
from shared.live_config import ConfigStore
from shared.messages import Estimations, SessionEnd
from shared.settings import Env, Settings
from shared.stored import (
    AnswerLine,
    BestShot,
    LandmarkTrack,
    ParallaxReference,
    from_json_line,
    pack,
    to_json_line,
    unpack,
)
from shared.ui_config import UiConfig, ui_config_store

FACE = np.arange(POINTS * 2, dtype=np.float32).reshape(POINTS, 2)


def test_each_stored_value_comes_back_as_it_went() -> None:
    values = [
        SessionState(session_id="s", attempts=3, last_frame_no=4, end=SessionEnd.SUCCESS, transcript="abc"),
        BestShot(image=b"\xff\xd8jpeg", estimations=Estimations(face_count=1, ags=0.5)),
        ParallaxReference(points=FACE.tobytes(), yaw=1.5, pitch=-2.0),
        LandmarkTrack(frame_no=7, points=FACE.tobytes() * 2, jitters=(0.1, 0.2)),
    ]
    for value in values:
        assert unpack(type(value), pack(value)) == value
    line = AnswerLine(frame=2, kind="STATS", codes=(1, 10), end=SessionEnd.MAX_ATTEMPTS, at=time.time())
    assert from_json_line(AnswerLine, to_json_line(line)) == line
    assert json.loads(to_json_line(line))["t"] == "answer"


def test_a_value_from_before_the_envelope_or_of_another_version_is_refused_clearly() -> None:
    legacy = msgpack.packb({"session_id": "s", "attempts": 1})  # the decider's state before the envelope
    with pytest.raises(MessageDecodeError, match="expected 'session-state', got type None"):
        unpack(SessionState, legacy)
    newer = msgpack.packb({"t": "session-state", "v": 99, "session_id": "s"})
    with pytest.raises(MessageDecodeError, match="version 99 is not 1"):
        unpack(SessionState, newer)
    with pytest.raises(MessageDecodeError, match="expected 'best-shot'"):
        unpack(BestShot, pack(ParallaxReference(points=b"", yaw=0, pitch=0)))
    with pytest.raises(MessageDecodeError, match=r"not msgpack|not a msgpack map"):
        unpack(LandmarkTrack, b"\xc1junk")
    old_line = json.dumps({"frame": 1, "kind": "stats", "codes": [], "error": None, "end": None, "at": 1.0})
    with pytest.raises(MessageDecodeError, match="expected 'answer', got type None"):
        from_json_line(AnswerLine, old_line)
    with pytest.raises(MessageDecodeError, match="not JSON"):
        from_json_line(AnswerLine, "{cut")


@pytest.mark.anyio
async def test_an_unreadable_session_state_is_rebuilt_from_the_audit_stream(redis: Redis, keys: Keys) -> None:
    settings = Settings(env=Env.DEVELOPMENT)
    events = [AuditEvent(session_id="s", frame_no=n, at=1.0, kind=AuditKind.FRAME) for n in (1, 2)]
    async with redis.pipeline(transaction=False) as pipe:
        for event in events:
            add(pipe, keys.audit("s"), event, maxlen=100)
        await pipe.execute()
    store = SessionStore(redis, keys)
    await redis.set(keys.decider_state("s"), msgpack.packb({"session_id": "s", "last_frame_no": 2}))
    state = await store.load("s", settings)
    assert state == await store.rebuild("s", settings)
    assert state.last_frame_no == 2


@pytest.mark.anyio
async def test_an_unreadable_face_geometry_starts_the_session_afresh(redis: Redis, keys: Keys) -> None:
    store = ReferenceStore(redis, keys, ttl_s=60)
    await store.save({"kept": Reference(FACE, 1.0, 2.0, Track(4).advance(5, FACE, 60.0))})
    await redis.set(keys.estimator_reference("old"), msgpack.packb({"points": FACE.tobytes(), "yaw": 0, "pitch": 0}))
    loaded = await store.load(["kept", "old"])
    assert set(loaded) == {"kept"}
    assert loaded["kept"].track is not None
    assert loaded["kept"].track.frame_no == 5


@pytest.mark.anyio
async def test_the_hashes_store_their_models_with_the_envelope(redis: Redis, keys: Keys) -> None:
    """UI configs (and the live settings and admin accounts, through the same ModelHash): the
    envelope is written; a value stored before the envelopes is still read; another type or a
    version this code does not know is refused with a MessageDecodeError."""
    store = ui_config_store(redis, keys)
    config = UiConfig(name="bank", image_width=800)
    await store.put("bank", config)
    written = json.loads(await redis.hget(keys.ui_configs, "bank"))  # type: ignore[misc]
    assert (written["t"], written["v"]) == ("ui-config", 1)
    assert await store.get("bank") == config
    # Written by the code before the envelopes: the model's bare JSON.
    await redis.hset(keys.ui_configs, "old", json.dumps({"name": "old"}))  # type: ignore[misc]
    assert await store.get("old") == UiConfig(name="old")
    await redis.hset(keys.ui_configs, "group", to_json_line(AdminGroup(name="ops")))  # type: ignore[misc]
    await redis.hset(keys.ui_configs, "newer", json.dumps({"t": "ui-config", "v": 2, "name": "newer"}))  # type: ignore[misc]
    for name in ("group", "newer"):
        with pytest.raises(MessageDecodeError):
            await store.get(name)
    assert (await ConfigStore(redis, keys).load("default")).version == 0  # absent: the empty layer
