"""One-line notices after a redirect ("Saved x."): a fixed message chosen by a code in the query,
with object names that must look like names, so a crafted link cannot put its own text here."""

from __future__ import annotations

import re

from quart import request

NAMES = re.compile(r"^[A-Za-z0-9_.-]{1,64}(,[A-Za-z0-9_.-]{1,64})*$")


def notice(messages: dict[str, str]) -> str | None:
    template = messages.get(request.args.get("done", ""))
    names = request.args.get("names", "")
    if template is None or (names and not NAMES.match(names)):
        return None
    return template.format(names.replace(",", ", "))
