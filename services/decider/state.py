"""A session's decision state, and the events that change it (event-sourced).

The decider never edits state in place: each frame yields ``AuditEvent``s, which are appended to
the session's audit stream and folded into the state with ``apply``. Folding the audit stream
from the start rebuilds the state exactly: tests/test_decider_pipeline.py checks it after a whole
session through the stack, tests/test_stored.py where the stored state no longer reads.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.audit import AuditEvent, AuditKind, SessionState, WindowFrame
from shared.transcript import link, start

__all__ = ["AuditEvent", "AuditKind", "SessionState", "WindowFrame", "advance", "apply", "rebuild"]


def apply(state: SessionState, event: AuditEvent, window_size: int) -> SessionState:
    """The state after ``event``; pure, so replaying the audit stream rebuilds the state."""
    if event.kind is AuditKind.FRAME:
        counted = 0 if event.measuring else 1
        update: dict[str, object] = {
            "attempts": state.attempts + counted, "last_frame_no": event.frame_no,
            "transcript": link(state.transcript or start(state.session_id), event.frame_no, event.image_sha256,
                               event.codes),
        }
        if event.window_frame is not None:
            update["liveness_attempts"] = state.liveness_attempts + counted
            update["window"] = (*state.window, event.window_frame)[-window_size:]
        return state.model_copy(update=update)
    if event.kind is AuditKind.BESTSHOT:
        return state.model_copy(update={"best_frame_no": event.frame_no, "best_shot_score": event.shot_score})
    if event.kind is AuditKind.MARKED_FAKE:
        return state.model_copy(update={"marked_fake": True})
    return state.model_copy(update={"end": event.end, "jwt_id": event.jwt_id})


def advance(state: SessionState, events: Iterable[AuditEvent], window_size: int) -> SessionState:
    """The state after ``events`` in order."""
    for event in events:
        state = apply(state, event, window_size)
    return state


def rebuild(session_id: str, events: Iterable[AuditEvent], window_size: int) -> SessionState:
    return advance(SessionState(session_id=session_id), events, window_size)
