"""The one place that turns decisions and errors into LPProto replies and close codes."""

from __future__ import annotations

import json
from enum import IntEnum

from shared.errors import RetryLaterError, SystemCode, VigilError
from shared.lpproto import Command, format_message
from shared.messages import ReplyKind, ReplyMessage, SessionEnd


class CloseCode(IntEnum):
    """WebSocket close codes the ingress uses (docs/protocol.md)."""

    NORMAL = 1000  # after SUCCESS
    MESSAGE_TOO_BIG = 1009  # a message over ingress.max_message_bytes
    TRY_AGAIN_LATER = 1013  # a new session refused for load (after ERROR 1020 with retry-after)
    SESSION_OVER = 4000  # a plugin ended the session
    NOT_TEXT = 4001  # a binary WebSocket message: LPProto is text
    MAX_ATTEMPTS = 4002
    MAX_LIVENESS_ATTEMPTS = 4003
    FACE_CHANGED = 4004
    MARKED_FAKE = 4005
    IDLE = 4006  # no CONNECT, or no FRAME, in time (after ERROR 1021): a page resumes the session
    LIMITED = 4007  # a new session refused by an abuse limit (after ERROR 1022 with retry-after)


CLOSE_CODES = {
    SessionEnd.SUCCESS: CloseCode.NORMAL,
    SessionEnd.MAX_ATTEMPTS: CloseCode.MAX_ATTEMPTS,
    SessionEnd.MAX_LIVENESS_ATTEMPTS: CloseCode.MAX_LIVENESS_ATTEMPTS,
    SessionEnd.FACE_CHANGED: CloseCode.FACE_CHANGED,
    SessionEnd.MARKED_FAKE: CloseCode.MARKED_FAKE,
    SessionEnd.PLUGIN: CloseCode.SESSION_OVER,
}


# A refused new session is told when to come back, then closed: an idle socket must not hold a
# place in the queue.
REFUSAL_CLOSE_CODES = {SystemCode.OVERLOADED: CloseCode.TRY_AGAIN_LATER, SystemCode.LIMITED: CloseCode.LIMITED}


def refusal_close_code(exc: RetryLaterError) -> CloseCode:
    return REFUSAL_CLOSE_CODES.get(exc.code, CloseCode.TRY_AGAIN_LATER)


def error_text(code: SystemCode, detail: str = "", *, retry_after_s: int | None = None) -> str:
    headers = {"error": str(int(code))}
    if detail:
        headers["message"] = " ".join(detail.split())[:200]
    if retry_after_s is not None:
        headers["retry-after"] = str(retry_after_s)
    return format_message(Command.ERROR, headers)


def exception_text(exc: VigilError) -> str:
    retry_after = exc.retry_after_s if isinstance(exc, RetryLaterError) else None
    return error_text(exc.code, str(exc), retry_after_s=retry_after)


def reply_text(reply: ReplyMessage) -> str:
    if reply.kind is ReplyKind.SUCCESS and reply.jwt is not None:
        return format_message(Command.SUCCESS, {"content-type": "application/jwt"}, reply.jwt)
    if reply.kind is ReplyKind.ERROR:
        return error_text(reply.error or SystemCode.INTERNAL)
    body = {
        "isOk": False,
        "errors": [int(code) for code in reply.errors],
        "estimations": reply.estimations.model_dump(by_alias=True, exclude_none=True)
        if reply.estimations else {},
    }
    return format_message(Command.STATS, {"content-type": "application/json"}, json.dumps(body))


def close_code(end: SessionEnd) -> CloseCode:
    return CLOSE_CODES[end]
