"""The session audit: every decision and state change the decider makes, one stream per session.

Producer: the decider (``Keys.audit(session)``, in the same MULTI as the state and the reply).
Consumers: the decider rebuilding a state (services/decider/state.py ``rebuild``), the admin
panel's session pages, ``vigil replay``. Folding the events in order rebuilds the state exactly.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from shared.errors import FrameCheck
from shared.messages import Message, Model, SessionEnd


class WindowFrame(Model):
    """A frame that passed the gate checks: one entry of the aggregation window."""

    frame_no: int
    liveness: float | None = None
    deepfake: float | None = None
    image_modification: float | None = None
    eyes_ok: bool | None = None
    mouth_ok: bool | None = None
    glasses_ok: bool | None = None
    shot_score: float = 0.0


class AuditKind(StrEnum):
    FRAME = "frame"  # a frame was decided
    BESTSHOT = "bestshot"  # a better best shot was kept
    MARKED_FAKE = "marked_fake"
    ENDED = "ended"


class AuditEvent(Message):
    TYPE = "audit"

    session_id: str
    frame_no: int
    at: float
    kind: AuditKind
    codes: tuple[FrameCheck, ...] = ()
    window_frame: WindowFrame | None = None  # FRAME: set when the frame entered the window
    plugins: dict[str, str] = Field(default_factory=dict)  # FRAME: plugin -> verdict
    # FRAME: taken while the light challenge measures (its own bounds apply): counts towards no
    # attempt limit, or the guide's 50 frames would end sessions in the middle of the colours.
    measuring: bool = False
    image_sha256: str | None = None  # FRAME: the frame's image as received (the transcript's link)
    shot_score: float | None = None  # BESTSHOT
    reason: str | None = None  # MARKED_FAKE
    end: SessionEnd | None = None  # ENDED
    jwt_id: str | None = None  # ENDED with success


class SessionState(Message):
    """A session's decision state: the audit events folded in order (services/decider/state.py
    ``apply``). Stored by the decider after each frame for any instance to go on from
    (``Keys.decider_state``, shared/stored.py); rebuilt from the audit stream when missing."""

    TYPE = "session-state"

    session_id: str
    attempts: int = 0
    liveness_attempts: int = 0
    last_frame_no: int = 0
    window: tuple[WindowFrame, ...] = ()
    best_frame_no: int | None = None
    best_shot_score: float | None = None
    marked_fake: bool = False
    end: SessionEnd | None = None
    jwt_id: str | None = None
    transcript: str = ""  # the hash chain over the decided frames (shared/transcript.py); "": none yet
