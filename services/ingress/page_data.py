"""The check page rendered with what its script would otherwise fetch (issue 18: the first frame
within 3 s on a slow phone network, where each fetch costs a round trip before Start is ready).

``GET /`` inlines, as one ``<script type="application/json">`` data block (data, never run: the
page's CSP keeps ``script-src 'self'``), the UI config named by ``?cn=`` (default ``default``), the
check settings (the oval's ROI) and the messages of the page's language, chosen from ``?lang=`` or
``Accept-Language`` by i18n.js's own rules (matchLanguage, pickLanguage; English otherwise). page.js
uses the block when it names the config and the language it chose itself, else fetches as before:
a config that cannot be read here (unknown, invalid, Redis down) is left out, and the page's fetch
gives its documented error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.settings import Settings
from shared.ui_config import UiConfig

# i18n.js's LANGUAGES, in its order (a base shared by two would pick the first listed);
# tests/test_page_data.py keeps the two lists and their matching rules equal.
LANGUAGES = ("en", "ru", "es", "pt-BR", "fr", "de", "tr", "ar", "zh-Hans", "hi")
FALLBACK_LANGUAGE = "en"
# Chinese in traditional characters: we have none (i18n.js: the reader's next language instead).
TRADITIONAL = re.compile(r"^zh-(hant|tw|hk|mo)\b")
DATA_ID = "vigil-page-data"  # page.js reads the block by this id
SLOT = "<!-- vigil:page-data -->"  # where index.html takes the block; served as a file, it stays a comment


def match_language(tag: str | None) -> str | None:
    """Ours for a BCP 47 tag ("pt" and "pt-PT" -> "pt-BR", "zh-CN" -> "zh-Hans"), or None."""
    wanted = (tag or "").strip().lower().replace("_", "-")
    if not wanted:
        return None
    exact = next((lang for lang in LANGUAGES if lang.lower() == wanted), None)
    if exact is not None:
        return exact
    if TRADITIONAL.search(wanted):
        return None
    base = wanted.split("-")[0]
    return next((lang for lang in LANGUAGES if lang.lower().split("-")[0] == base), None)


def accepted_languages(header: str | None) -> list[str]:
    """``Accept-Language``'s tags in the order of preference (by q, ties as listed; q=0 is a refusal):
    what the browser's ``navigator.languages`` lists for pickLanguage."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((header or "").split(",")):
        tag, *parameters = (part.strip() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0  # a malformed weight: not a preference we can rank
        if tag and quality > 0:
            ranked.append((-quality, position, tag))
    return [tag for *_, tag in sorted(ranked)]


def pick_language(query: str | None, accept_language: str | None) -> str:
    """page.js's choice: ``?lang=`` when it is one of ours, else the first of the browser's that is."""
    for tag in [query, *accepted_languages(accept_language)]:
        lang = match_language(tag)
        if lang is not None:
            return lang
    return FALLBACK_LANGUAGE


def check_settings(settings: Settings) -> dict[str, Any]:
    """What the page needs of the service settings: the ROI (the oval guide), the face size
    (``GET /api/check-settings`` and the inlined block say the same)."""
    return {
        "roi": settings.roi.model_dump(),
        "faceWidth": settings.thresholds.face_width,
        "faceHeight": settings.thresholds.face_height,
    }


def data_block(value: Mapping[str, Any]) -> str:
    """JSON that stays data inside ``<script type="application/json">``: every ``<`` escaped, so no
    text (a config's message, a translation) can close the element or open a comment in it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return f'<script type="application/json" id="{DATA_ID}">{text}</script>'


class PageTemplate:
    """index.html and the messages, read once (they ship with the code); rendered per request."""

    def __init__(self, static: Path) -> None:
        self.html = (static / "index.html").read_text(encoding="utf-8")
        if SLOT not in self.html:
            raise ValueError(f"{static / 'index.html'} has no {SLOT} for the page's data")
        self.messages: dict[str, dict[str, str]] = {
            lang: json.loads((static / "i18n" / f"{lang}.json").read_text(encoding="utf-8")) for lang in LANGUAGES
        }

    def render(self, lang: str, check: Mapping[str, Any], config: UiConfig | None) -> str:
        """The page with its data block: ``config`` None leaves the config to the page's fetch."""
        data: dict[str, Any] = {"lang": lang, "messages": self.messages[lang], "settings": check}
        if config is not None:
            data["config"] = config.model_dump(mode="json")
        return self.html.replace(SLOT, data_block(data), 1)
