"""Paging through a stream in the panel's lists: the ``before`` cursor a page's "Older" link carries
(shared/recent.py reads the page)."""

from __future__ import annotations

from quart import abort, request

from shared.recent import is_entry_id

CURSOR = "before"  # the query parameter: the entry id the page starts before
PAGE_SIZE = 50  # rows a page shows: one screen to scan, one bounded read


def page_cursor() -> str | None:
    """The page asked for: None for the newest, else the entry id it starts before (400 for anything else)."""
    value = request.args.get(CURSOR, "")
    if not value:
        return None
    if not is_entry_id(value):
        abort(400, "That is not a page of this list.")
    return value
