"""Sessions section: recent sessions (from ``session_events``) and one session rebuilt from its
audit stream (every frame's codes and plugin verdicts, best shots, the end and the JWT id).

The audit entries are the shared contract ``shared.audit.AuditEvent``.
"""

from __future__ import annotations

import re
from pathlib import Path

from quart import Blueprint, abort, render_template, send_file, url_for
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
FRAME_FILE = re.compile(r"^\d{5}\.(jpg|png)$")
VIDEO_TYPES = {".mp4": "video/mp4", ".webm": "video/webm"}
SCAN_EVENTS = 2000
SHOWN = 100
KNOWN_CHECKS = {int(code): code.name.replace("_", " ").lower() for code in FrameCheck}


def session_link(session_id: str) -> str | None:
    """The session's page, for ids a session page can have; None for any other text a stream carries."""
    return url_for("sessions.show", session_id=session_id) if SESSION_ID.match(session_id) else None


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
        video=video_file(session_id), frame_files=frame_files(session_id),
    )


def video_file(session_id: str) -> Path | None:
    """The session's video in the builder's storage, if built. The id was checked against
    ``SESSION_ID``, and the name is built here, so no request text reaches the path."""
    storage = admin_context().settings.video.storage
    return next((path for suffix in VIDEO_TYPES if (path := storage / f"{session_id}{suffix}").is_file()), None)


def frame_files(session_id: str) -> list[str]:
    """The FileLogger's frame files of the session (names only)."""
    folder = admin_context().settings.file_logger.path / session_id
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if FRAME_FILE.match(p.name))


@sessions.get("/<session_id>/video")
async def video(session_id: str) -> ResponseReturnValue:
    if not SESSION_ID.match(session_id) or (path := video_file(session_id)) is None:
        abort(404)
    return await send_file(path, mimetype=VIDEO_TYPES[path.suffix], as_attachment=False)


@sessions.get("/<session_id>/frames/<name>")
async def frame(session_id: str, name: str) -> ResponseReturnValue:
    if not SESSION_ID.match(session_id) or not FRAME_FILE.match(name) or name not in frame_files(session_id):
        abort(404)
    path = admin_context().settings.file_logger.path / session_id / name
    return await send_file(path, mimetype="image/png" if name.endswith(".png") else "image/jpeg",
                           as_attachment=True, attachment_filename=f"{session_id}-{name}")
