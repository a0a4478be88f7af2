"""The check page's languages, without a browser: every language has every message (each LPProto
code the service can send and each string the page and the library use), with the same
placeholders; the codes the page knows are exactly those of shared/errors.py and the ingress's
close codes; and the writing rules of docs/translations.md that a program can check hold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from services.ingress.replies import CloseCode
from shared.errors import FrameCheck, SystemCode

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "services" / "ingress" / "static"
REQUIRED = {"en", "ru", "es", "pt-BR", "fr", "de", "tr", "ar", "zh-Hans", "hi"}
ACTIONS = [FrameCheck.ACTION_BLINK, FrameCheck.ACTION_YAW_LEFT, FrameCheck.ACTION_YAW_RIGHT,
           FrameCheck.ACTION_PITCH_UP, FrameCheck.ACTION_PITCH_DOWN, FrameCheck.ACTION_SMILE,
           FrameCheck.ACTION_MOUTH_OPEN]
# Words of the service's insides that a person never reads (docs/translations.md, "No jargon").
JARGON = re.compile(r"\b(yaw|pitch|roll|roi|liveness|jwt|lpproto|websocket|session-id|frame|estimat\w*|"
                    r"score|threshold|plugin|redis|stream)\b", re.IGNORECASE)
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Sentence ends in the scripts used here: Latin, Cyrillic and Arabic take ".", Chinese "。",
# Hindi "।"; a question or exclamation, or "…" for something still going on.
SENTENCE_END = (".", "!", "?", "…", "。", "\uff01", "।")  # "\uff01": the full-width "!"


def catalogue() -> dict[str, dict[str, str]]:
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in (STATIC / "i18n").glob("*.json")}


def js_set(name: str) -> set[int]:
    """A `const NAME = new Set([...])` of numbers in vigil.js."""
    match = re.search(rf"const {name} = new Set\(\[([\d, ]+)\]\)", (STATIC / "vigil.js").read_text())
    assert match, name
    return {int(number) for number in match.group(1).split(",")}


def test_the_languages_list_names_each_file_and_every_required_language() -> None:
    listed = re.search(r"export const LANGUAGES = \[(.*?)\];", (STATIC / "i18n.js").read_text())
    assert listed
    languages = set(re.findall(r'"([\w-]+)"', listed.group(1)))
    assert languages == set(catalogue())
    assert languages >= REQUIRED, sorted(REQUIRED - languages)
    assert re.search(r'const RIGHT_TO_LEFT = new Set\(\["ar"\]\)', (STATIC / "i18n.js").read_text())


@pytest.mark.parametrize("lang", sorted(REQUIRED))
def test_every_message_is_translated_with_its_placeholders(lang: str) -> None:
    messages = catalogue()
    english, translated = messages["en"], messages[lang]
    assert set(translated) == set(english), {"missing": sorted(set(english) - set(translated)),
                                             "extra": sorted(set(translated) - set(english))}
    for key, text in translated.items():
        assert text, (lang, key)
        assert text.strip() == text, (lang, key)
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(english[key])), (lang, key, text)


def test_the_codes_the_page_knows_are_the_services_codes() -> None:
    """shared/errors.py's FrameCheck and SystemCode, and the ingress's close codes (issue 17, item 4)."""
    english = catalogue()["en"]
    numeric = {key for key in english if key.isdigit()}
    assert numeric == {str(int(code)) for code in [*FrameCheck, *SystemCode]}
    # The codes that end a session each have their own message; the others resume (4006), are the
    # page's own fault (1009, 4001: "close.protocol") or come with an ERROR first (1013).
    session_over = js_set("SESSION_OVER")
    assert session_over == {int(c) for c in CloseCode if 4000 <= c < 5000} - {CloseCode.NOT_TEXT, CloseCode.IDLE}
    assert {key for key in english if key.startswith("close.")} == {f"close.{c}" for c in session_over} | {
        "close.protocol"}
    assert js_set("PROTOCOL_CLOSE") == {CloseCode.MESSAGE_TOO_BIG, CloseCode.NOT_TEXT}
    assert js_set("SESSION_ENDING") == {FrameCheck.LIGHT_FAILED, FrameCheck.LIGHT_REQUIRED}
    assert js_set("RETRYABLE") <= {int(code) for code in SystemCode}
    assert "code === 1021" in (STATIC / "vigil.js").read_text()  # idle: the same session resumes


def test_every_string_the_page_and_library_use_exists() -> None:
    english = catalogue()["en"]
    used: set[str] = set()
    for name in ("page.js", "vigil.js", "light.js"):
        text = (STATIC / name).read_text()
        used |= set(re.findall(r'\bt\("(\w+)"', text)) | set(re.findall(r'message\("(\w+)"', text))
    used |= set(re.findall(r'(?:data-i18n|data-i18n-label)="(\w+)"', (STATIC / "index.html").read_text()))
    camera = re.search(r"const CAMERA_MESSAGES = \{(.*?)\};", (STATIC / "vigil.js").read_text(), re.DOTALL)
    assert camera
    used |= set(re.findall(r':\s*"(\w+)"', camera.group(1)))
    assert len(used) > 30
    assert used <= set(english), sorted(used - set(english))


@pytest.mark.parametrize("lang", sorted(REQUIRED))
def test_the_writing_rules_that_a_program_can_check(lang: str) -> None:
    """docs/translations.md: whole sentences, no jargon, short action prompts, "…" kept for what
    is still going on, and none much longer than the English."""
    english, translated = catalogue()["en"], catalogue()[lang]
    for key, text in translated.items():
        assert not JARGON.search(text), (lang, key, text)
        if english[key].endswith("…"):
            assert text.endswith("…"), (lang, key, text)
        if key.isdigit() or key.startswith("close.") or key in {"intro", "ready", "success", "stopped"}:
            assert text.endswith(SENTENCE_END), (lang, key, text)
        assert len(text) <= max(2.2 * len(english[key]), 20), (lang, key, len(text), len(english[key]))
    for code in ACTIONS:  # read at a glance while moving: one short sentence
        action = translated[str(int(code))]
        assert len(action) <= 50, (lang, code, action)
        assert len(re.findall(r"[.!。।]", action)) == 1, (lang, code, action)
