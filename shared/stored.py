"""Values one process stores, in Redis or on disk, for another process (or another instance or
version of itself) to read back: frozen models with the messages' envelope, a type tag ``t`` and a
schema version ``v`` (shared/messages.py).

A value written by another version, or something else under the same key, is refused with a
``MessageDecodeError`` that says what was found, never misread or crashed on: the reader decides
what to do (the decider rebuilds its state from the audit stream; the estimator starts a fresh
memory). A change that is not backward compatible bumps the model's ``VERSION``.

| value | where | written by | read by |
|---|---|---|---|
| ``shared.audit.SessionState`` | ``P:decider:state:{session}``, msgpack | decider | decider (any instance) |
| ``BestShot`` | ``P:decider:bestshot:{session}``, msgpack | decider | decider (the JWT) |
| ``ParallaxReference`` | ``P:estimator:reference:{session}``, msgpack | estimator | estimator (any instance) |
| ``LandmarkTrack``, ``FaceAnchor`` | ``P:estimator:track:{session}``, msgpack | estimator | estimator (any instance) |
| ``AnswerLine`` | ``{file_logger.path}/{session}/answers.jsonl``, a JSON line each | FileLogger | ``vigil replay`` |
| ``shared.ui_config.UiConfig`` | ``P:ui:configs``, name -> JSON (``store.ModelHash``) | admin, CLI | ingress, admin |
| ``shared.live_config.StoredConfig`` | ``P:config``, tag -> JSON (``ModelHash``) | admin, CLI | every service |
| ``admin.accounts.AdminUser``, ``AdminGroup`` | ``P:admin:users``, ``P:admin:groups`` (``ModelHash``) | admin | admin |
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from shared.errors import MessageDecodeError
from shared.messages import (
    ENTRY_FIELD,
    Estimations,
    Face,
    M,
    Message,
    Model,
    SessionEnd,
    decode,
    encode,
    from_envelope,
)


def pack(value: Message) -> bytes:
    """``value`` as msgpack bytes with its envelope."""
    return encode(value)[ENTRY_FIELD]


def unpack(kind: type[M], raw: bytes) -> M:
    """The ``kind`` stored as ``raw``; ``MessageDecodeError`` for another type or version, or junk."""
    return decode(kind, {ENTRY_FIELD: raw})


def to_json_line(value: Message) -> str:
    """``value`` as one line of JSON with its envelope (no newline)."""
    return json.dumps({"t": value.TYPE, "v": value.VERSION, **value.model_dump(mode="json")})


def from_json_line(kind: type[M], line: str) -> M:
    """The ``kind`` written as ``line``; ``MessageDecodeError`` for another type or version, or junk."""
    raw = line.encode()
    return from_envelope(kind, _json_object(raw), raw)


def from_stored_json(kind: type[M], raw: bytes | str) -> M:
    """The ``kind`` stored as JSON (``to_json_line``'s form) in a Redis hash (shared/store.py).

    Values written before the hashes carried envelopes (2026-12-07) are the model's bare JSON:
    read as version 1 of ``kind``, so a running deployment's UI configs, admin accounts and live
    settings stay readable; they get the envelope when next written."""
    data = raw.encode() if isinstance(raw, str) else raw
    body = _json_object(data)
    if "t" in body or kind.VERSION != 1:
        return from_envelope(kind, body, data)
    try:
        return kind.model_validate(body)
    except ValidationError as exc:
        raise MessageDecodeError(f"invalid {kind.TYPE}: {exc.error_count()} errors: {exc}", data) from exc


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body: Any = json.loads(raw)
    except ValueError as exc:
        raise MessageDecodeError(f"not JSON: {exc}", raw) from exc
    if not isinstance(body, dict):
        raise MessageDecodeError("not a JSON object", raw)
    return body


class BestShot(Message):
    """The session's best frame so far and what was estimated on it: what a success's token carries."""

    TYPE = "best-shot"

    image: bytes
    estimations: Estimations


class ParallaxReference(Message):
    """The session's most frontal face so far, for the 3-D parallax cue (services/estimator/parallax.py)."""

    TYPE = "parallax-reference"

    points: bytes  # 468 x 2 float32 landmarks, C order
    yaw: float
    pitch: float


class FaceAnchor(Model):
    """The main face as the detector last saw it, in the face mesh's own frame, so the mesh can
    carry it to the next frames without the detector (services/estimator/tracking.py)."""

    detected_at: int  # the frame the detector ran on
    centre: tuple[float, float]  # the detector's box centre, in canonical-mesh units
    size: tuple[float, float]  # its width and height, in the same units
    keypoints: tuple[tuple[float, float], ...]  # its five keypoints, in the same units
    score: float  # the detector's score
    others: tuple[Face, ...] = ()  # the other faces it found, in image pixels as it saw them


class LandmarkTrack(Message):
    """The session's recent landmarks, for the temporal deepfake cue (services/estimator/temporal.py),
    and where the detector last saw the face (for tracking)."""

    TYPE = "landmark-track"
    VERSION = 2  # 2: the anchor

    frame_no: int
    points: bytes  # up to 2 x 468 x 2 float32 landmarks, the older first, C order
    jitters: tuple[float, ...] = ()
    anchor: FaceAnchor | None = None


class AnswerLine(Message):
    """One answer the decider gave, as the FileLogger writes it next to the session's frames."""

    TYPE = "answer"

    frame: int
    kind: str  # the ReplyKind: stats, success, error
    codes: tuple[int, ...] = ()
    error: int | None = None  # the SystemCode of an error answer
    end: SessionEnd | None = None
    at: float
