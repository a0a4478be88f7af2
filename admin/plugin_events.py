"""Sessions section, plugin events: what plugins announced for operators (``P:plugin-events``,
``Verdict.announce``: e.g. the VirtualCameraChecker's evidence), newest first, a page at a time.

A note can quote what a client sent (a camera label): the template escapes every field.
"""

from __future__ import annotations

from quart import Blueprint, render_template
from quart.typing import ResponseReturnValue

from admin.accounts import Section
from admin.context import admin_context
from admin.guard import requires
from admin.paging import PAGE_SIZE, page_cursor
from admin.sessions import session_link
from shared.messages import PluginEvent
from shared.recent import newest

plugin_events = Blueprint("plugin_events", __name__, url_prefix="/plugin-events")
plugin_events.before_request(requires(Section.SESSIONS))


@plugin_events.get("/")
async def index() -> ResponseReturnValue:
    context, before = admin_context(), page_cursor()
    page = await newest(context.redis, context.keys.plugin_events, PluginEvent, size=PAGE_SIZE, before=before)
    rows = [(item.message, session_link(item.message.session_id)) for item in page.items]
    return await render_template("plugin_events.html", page=page, rows=rows, before=before)
