"""Sessions section, dead letters: the entries the services set aside (``P:dead:{stream}``,
shared/dead_letters.py): how many per stream, then a stream's newest, a page at a time, with the
group, the reason and what the payload claims to be. It only reads, as ``vigil dead-letters`` does.

A reason can quote what a client sent (a decode error): the template escapes every field.
"""

from __future__ import annotations

import re

from quart import Blueprint, abort, render_template
from quart.typing import ResponseReturnValue

from admin.accounts import Section
from admin.context import admin_context
from admin.guard import requires
from admin.paging import PAGE_SIZE, page_cursor
from shared.dead_letters import counts, newest_letters

dead_letters = Blueprint("dead_letters", __name__, url_prefix="/dead-letters")
dead_letters.before_request(requires(Section.SESSIONS))
# A stream's name as counts() gives it ("estimations", "session-events"): a URL naming anything
# else is not a page of this list.
STREAM_NAME = re.compile(r"[a-z0-9][a-z0-9:_-]{0,63}")


@dead_letters.get("/")
async def index() -> ResponseReturnValue:
    context = admin_context()
    return await render_template("dead_letters.html", streams=await counts(context.redis, context.keys))


@dead_letters.get("/<name>")
async def stream(name: str) -> ResponseReturnValue:
    if not STREAM_NAME.fullmatch(name):
        abort(404)
    context, before = admin_context(), page_cursor()
    page = await newest_letters(context.redis, context.keys, name, size=PAGE_SIZE, before=before)
    return await render_template("dead_letter_stream.html", name=name, page=page, before=before)
