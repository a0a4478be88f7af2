"""The session transcript: a hash chain over every frame the decider decided, in order, with the
answer it gave, carried in the token as ``transcript`` (docs/decider.md, "Transcript").

A relying party that keeps the session's frames (the FileLogger's folder, or the frames it sent
itself) recomputes it with ``transcript(session_id, frames)`` and so proves which frames, and which
answers, the decision was made on: one frame changed, dropped or reordered gives another value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SEED = "vigil-transcript-v1"


def start(session_id: str) -> str:
    return hashlib.sha256(f"{SEED}|{session_id}".encode()).hexdigest()


def link(previous: str, frame_no: int, image_sha256: str | None, codes: Iterable[int]) -> str:
    """The chain after one decided frame: its number, the SHA-256 of its image bytes as received
    (decoded from base64), and the frame check codes of its answer (none: passed)."""
    text = f"{previous}|{frame_no}|{image_sha256 or '-'}|{','.join(str(int(code)) for code in codes)}"
    return hashlib.sha256(text.encode()).hexdigest()


def transcript(session_id: str, frames: Iterable[tuple[int, str | None, Iterable[int]]]) -> str:
    """The whole chain: ``frames`` as (frame number, image SHA-256, answer codes), in order."""
    value = start(session_id)
    for frame_no, image_sha256, codes in frames:
        value = link(value, frame_no, image_sha256, codes)
    return value
