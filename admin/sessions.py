"""Sessions section: recent sessions (from ``session_events``) and one session rebuilt from its
audit stream (every frame's codes and plugin verdicts, best shots, the end and the JWT id).

The audit entries are the shared contract ``shared.audit.AuditEvent``.
"""

from __future__ import annotations

import re

from quart import Blueprint, abort, render_template
from quart.typing import ResponseReturnValue

from admin.accounts import Section
from admin.context import admin_context
from admin.guard import requires
from shared.audit import AuditEvent
from shared.errors import FrameCheck, MessageDecodeError
from shared.messages import SessionEvent, decode

sessions = Blueprint("sessions", __name__, url_prefix="/sessions")
sessions.before_request(requires(Section.SESSIONS))
SESSION_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
SCAN_EVENTS = 2000
SHOWN = 100
KNOWN_CHECKS = {int(code): code.name.replace("_", " ").lower() for code in FrameCheck}


def check_names(codes: tuple[int, ...]) -> list[str]:
    return [f"{KNOWN_CHECKS.get(code, 'code')} ({code})" for code in codes]


async def recent_events(count: int = SCAN_EVENTS) -> list[SessionEvent]:
    """Session events, newest first."""
    context = admin_context()
    found = []
    for _, fields in await context.redis.xrevrange(context.keys.session_events, count=count):
        try:
            found.append(decode(SessionEvent, fields))
        except MessageDecodeError:
            continue
    return found


@sessions.get("/")
async def index() -> ResponseReturnValue:
    latest: dict[str, SessionEvent] = {}
    for event in await recent_events():
        latest.setdefault(event.session_id, event)  # newest first: the first seen is the last word
    return await render_template("sessions.html", sessions=list(latest.values())[:SHOWN])


@sessions.get("/<session_id>")
async def show(session_id: str) -> ResponseReturnValue:
    if not SESSION_ID.match(session_id):
        abort(404)
    context = admin_context()
    records, unreadable = [], 0
    for _, fields in await context.redis.xrange(context.keys.audit(session_id)):
        try:
            records.append(decode(AuditEvent, fields))
        except MessageDecodeError:
            unreadable += 1
    events = [event for event in await recent_events() if event.session_id == session_id][::-1]
    if not records and not events:
        abort(404, f"Nothing is known (any more) about session {session_id}.")
    ended = next((r for r in reversed(records) if r.kind == "ended"), None)
    jwt_id = (ended.jwt_id if ended else None) or next((e.jwt_id for e in reversed(events) if e.jwt_id), None)
    return await render_template(
        "session.html", session_id=session_id, records=records, events=events, ended=ended, jwt_id=jwt_id,
        frames=sum(1 for r in records if r.kind == "frame"), unreadable=unreadable, check_names=check_names,
    )
