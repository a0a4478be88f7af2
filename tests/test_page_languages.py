"""The check page's languages in Debian's Chromium: each language's texts reach the page (title,
intro, buttons, prompts, the light warning), the language comes from `?lang=` or the browser's
languages (with the fallbacks of docs/translations.md), and a UI config still replaces any text,
in every language or in one (`LANG:key`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.errors import FrameCheck
from shared.ui_config import UiConfig
from tests.page_harness import (
    STATIC,
    Chromium,
    FakeVigil,
    chromium_fixture,  # noqa: F401 (the fixture ``chromium``)
    open_context,
    open_page,
    ready,
    stats,
    vigil_fixture,  # noqa: F401 (the fixture ``vigil``)
)

pytestmark = pytest.mark.slow

LANGUAGES = sorted(path.stem for path in (STATIC / "i18n").glob("*.json"))
SHOP = UiConfig(name="shop", error_messages={"start": "Go", "es:start": "Adelante", "91": "Look left, please"})


def messages(lang: str) -> dict[str, str]:
    result: dict[str, str] = json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
    return result


@pytest.mark.timeout(180)
def test_each_language_reaches_the_page_prompts_and_light_warning(
    chromium: Chromium, vigil: FakeVigil, tmp_path: Path,
) -> None:
    assert len(LANGUAGES) >= 10
    vigil.light = "optional"
    vigil.replies = lambda _: [stats([FrameCheck.ACTION_YAW_LEFT], done=0, total=2)]
    context = open_context(chromium.browser, locale="en-US")
    for lang in LANGUAGES:
        texts = messages(lang)
        opened = ready(open_page(context, vigil, f"?lang={lang}"))
        page = opened.page
        assert page.evaluate("document.documentElement.lang") == lang
        assert page.title() == texts["title"]
        assert page.inner_text("h1") == texts["title"]
        assert page.inner_text("#intro") == texts["intro"]
        assert page.inner_text("#start") == texts["start"]
        assert page.inner_text("#prompt") == texts["ready"]
        assert page.get_attribute("#zoom-in", "aria-label") == texts["zoomIn"]
        page.click("#start")
        page.wait_for_selector("dialog.vigil-dialog[open]", timeout=15_000)
        assert page.inner_text("dialog.vigil-dialog h2") == texts["lightTitle"]
        page.click('dialog.vigil-dialog button[data-answer="decline"]')
        page.wait_for_selector(f'#prompt[data-codes~="{int(FrameCheck.ACTION_YAW_LEFT)}"]', state="attached",
                               timeout=15_000)
        assert page.inner_text("#prompt") == texts[str(int(FrameCheck.ACTION_YAW_LEFT))]
        assert page.inner_text("#progress-text") == texts["progress"].format(done=1, total=2)
        assert page.inner_text("#start") == texts["stop"]
        assert not opened.errors, (lang, opened.errors)
        page.close()
    context.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("locale", "query", "expected"), [
    ("es-ES", "", "es"),  # the browser's language, by its base
    ("pt-PT", "", "pt-BR"),  # our only Portuguese
    ("zh-CN", "", "zh-Hans"),
    ("zh-TW", "", "en"),  # traditional characters: not the simplified ones chosen for them
    ("ar-EG", "", "ar"),
    ("de-DE", "?lang=tr", "tr"),  # ?lang= wins
    ("de-DE", "?lang=PT_br", "pt-BR"),  # any case, "_" or "-"
    ("fr-FR", "?lang=xx", "fr"),  # unknown: the browser's
])
def test_the_language_comes_from_the_query_or_the_browser(
    chromium: Chromium, vigil: FakeVigil, locale: str, query: str, expected: str,
) -> None:
    context = open_context(chromium.browser, locale=locale)
    opened = ready(open_page(context, vigil, query))
    assert opened.page.evaluate("document.documentElement.lang") == expected
    assert opened.page.inner_text("h1") == messages(expected)["title"]
    context.close()


@pytest.mark.timeout(120)
def test_a_ui_config_replaces_texts_in_every_language_or_in_one(chromium: Chromium, vigil: FakeVigil) -> None:
    vigil.configs[SHOP.name] = SHOP
    vigil.replies = lambda _: [stats([FrameCheck.ACTION_YAW_LEFT], done=0, total=2)]
    context = open_context(chromium.browser)
    spanish = ready(open_page(context, vigil, "?cn=shop&lang=es")).page
    assert spanish.inner_text("#start") == "Adelante"  # "es:start"
    assert spanish.inner_text("h1") == messages("es")["title"]  # what the config leaves alone
    french = ready(open_page(context, vigil, "?cn=shop&lang=fr")).page
    assert french.inner_text("#start") == "Go"  # "start", every other language
    french.click("#start")
    french.wait_for_selector(f'#prompt[data-codes~="{int(FrameCheck.ACTION_YAW_LEFT)}"]', state="attached",
                             timeout=15_000)
    assert french.inner_text("#prompt") == "Look left, please"
    context.close()
