"""The reply for a decided frame: STATS with codes, SUCCESS with the signed JWT, or ERROR."""

from __future__ import annotations

import base64
from typing import Any

from shared.errors import FrameCheck, SystemCode
from shared.evidence import EvidenceKind
from shared.messages import Defence, EstimationMessage, Estimations, ReplyKind, ReplyMessage, SessionEnd


def error_reply(estimation: EstimationMessage, code: SystemCode) -> ReplyMessage:
    return ReplyMessage(
        session_id=estimation.session_id, request_id=estimation.request_id, frame_no=estimation.frame_no,
        kind=ReplyKind.ERROR, error=code,
    )


def stats_reply(estimation: EstimationMessage, codes: tuple[FrameCheck, ...], report: Estimations,
                end: SessionEnd | None) -> ReplyMessage:
    return ReplyMessage(
        session_id=estimation.session_id, request_id=estimation.request_id, frame_no=estimation.frame_no,
        kind=ReplyKind.STATS, errors=codes, estimations=report, end=end,
    )


def success_reply(estimation: EstimationMessage, token: str, jwt_id: str) -> ReplyMessage:
    return ReplyMessage(
        session_id=estimation.session_id, request_id=estimation.request_id, frame_no=estimation.frame_no,
        kind=ReplyKind.SUCCESS, jwt=token, jwt_id=jwt_id, end=SessionEnd.SUCCESS,
    )


def token_claims(session_id: str, jwt_id: str, bestshot: bytes, report: Estimations,
                 defences: tuple[Defence, ...] = ()) -> dict[str, Any]:
    """The JWT payload: the baseline's fields plus the session id, the evidence sources and the
    active defences the session passed (``defences``: "actions", "light"; a relying party that
    demands light checks it there)."""
    estimations = report.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {
        "errors": [],
        "isOk": True,
        "bestshot": base64.b64encode(bestshot).decode(),
        "estimations": estimations,
        "evidence": {
            kind.alias: estimations[kind.alias]["source"] for kind in EvidenceKind if kind.alias in estimations
        },
        "defences": [defence.value for defence in defences],
        "jti": jwt_id,
        "sid": session_id,
    }
