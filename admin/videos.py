"""Sessions section, videos: the videos the builder finished (``P:videos``), newest first, a page
at a time, with their size where this panel can see the file (the session page plays it)."""

from __future__ import annotations

from dataclasses import dataclass

from quart import Blueprint, render_template
from quart.typing import ResponseReturnValue

from admin.accounts import Section
from admin.context import admin_context
from admin.guard import requires
from admin.paging import PAGE_SIZE, page_cursor
from admin.sessions import session_link, video_file
from shared.messages import VideoMessage
from shared.recent import Recent, newest

videos = Blueprint("videos", __name__, url_prefix="/videos")
videos.before_request(requires(Section.SESSIONS))


@dataclass(frozen=True)
class VideoRow:
    built_ms: int
    video: VideoMessage
    link: str | None  # the session's page
    size: int | None  # bytes of the file in this panel's video.storage; None when it is not there


def row(item: Recent[VideoMessage]) -> VideoRow:
    link = session_link(item.message.session_id)
    # Only a checked id names a file (video_file builds the path from it).
    path = video_file(item.message.session_id) if link is not None else None
    try:
        size = path.stat().st_size if path is not None else None
    except OSError:  # deleted since it was found
        size = None
    return VideoRow(item.at_ms, item.message, link, size)


@videos.get("/")
async def index() -> ResponseReturnValue:
    context, before = admin_context(), page_cursor()
    page = await newest(context.redis, context.keys.videos, VideoMessage, size=PAGE_SIZE, before=before)
    return await render_template("videos.html", page=page, rows=[row(item) for item in page.items], before=before)
