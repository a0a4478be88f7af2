"""What the ingress inlines into the check page (services/ingress/page_data.py) and how it sends
the page's files (services/ingress/compression.py), without a browser: the language is the one
i18n.js would pick (the same list, the same rules, checked against i18n.js itself in node), the
data block stays data whatever a config's text holds, and gzip is given only where it is taken."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess

import pytest

from services.ingress.compression import MIN_BYTES, accepts_gzip, encoded
from services.ingress.page_data import (
    DATA_ID,
    LANGUAGES,
    PageTemplate,
    accepted_languages,
    match_language,
    pick_language,
)
from shared.ui_config import UiConfig
from tests.needs import unavailable
from tests.test_page_i18n import STATIC

# (?lang=, Accept-Language): browsers' lists and the fallbacks of docs/translations.md.
CHOICES = [
    (None, "es-ES,es;q=0.9"), (None, "pt-PT"), (None, "zh-CN,zh;q=0.9"), (None, "zh-TW,zh-Hant;q=0.9"),
    (None, "zh-TW,de;q=0.5"), (None, "ar-EG"), ("tr", "de-DE"), ("PT_br", "de-DE"), ("xx", "fr-FR"),
    (None, "xx, yy"), (None, None), (None, "en;q=0.1, ru;q=0.9"), (None, "de;q=0, fr"), (" ES ", None),
    ("zh-Hans", None), ("zh-hant-tw", "hi"), (None, "*"), (None, "sr-Latn-RS, hi-IN;q=0.8"),
]
BLOCK = re.compile(rf'<script type="application/json" id="{DATA_ID}">(.*?)</script>', re.DOTALL)


def block(html: str) -> dict[str, object]:
    [text] = BLOCK.findall(html)
    data: dict[str, object] = json.loads(text)
    return data


def test_the_languages_and_the_traditional_rule_are_i18n_js_own() -> None:
    source = (STATIC / "i18n.js").read_text()
    listed = re.search(r"export const LANGUAGES = \[(.*?)\];", source)
    assert listed
    # The order too: of two languages with one base, the first listed is picked.
    assert tuple(re.findall(r'"([\w-]+)"', listed.group(1))) == LANGUAGES
    assert "const TRADITIONAL = /^zh-(hant|tw|hk|mo)\\b/;" in source


@pytest.mark.e2e  # runs node
def test_the_language_is_the_one_i18n_js_picks() -> None:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
    # navigator.languages is Accept-Language's tags in order of preference.
    cases = [[query, accepted_languages(header)] for query, header in CHOICES]
    script = (f"import {{ matchLanguage, pickLanguage }} from {json.dumps((STATIC / 'i18n.js').as_uri())};\n"
              f"const cases = {json.dumps(cases)};\n"
              "console.log(JSON.stringify(cases.map(([query, languages]) =>"
              " matchLanguage(query) ?? pickLanguage(languages))));")
    done = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30,
                          check=True)
    assert json.loads(done.stdout) == [pick_language(query, header) for query, header in CHOICES]


def test_accept_language_is_ranked_by_weight_and_a_zero_weight_refuses() -> None:
    assert accepted_languages("de;q=0.5, fr, en;q=0.9, ru;q=0, es;q=bad") == ["fr", "en", "de"]
    assert pick_language(None, "ru;q=0, xx") == "en"
    assert match_language("pt") == "pt-BR"
    assert match_language("zh-HK") is None


def test_the_data_block_stays_data_whatever_a_config_says() -> None:
    hostile = "</script><script>alert(1)</script><!-- <SCRIPT"
    config = UiConfig(name="shop", success_message=hostile, error_messages={"start": hostile})
    html = PageTemplate(STATIC).render("hi", {"roi": {}}, config)
    assert "<!-- vigil:page-data -->" not in html
    assert html.lower().count("<script") == 2  # page.js and the block: nothing a config wrote
    data = block(html)
    assert data["config"] == config.model_dump(mode="json")
    assert data["messages"] == json.loads((STATIC / "i18n" / "hi.json").read_text(encoding="utf-8"))
    assert data["lang"] == "hi"
    assert "config" not in block(PageTemplate(STATIC).render("en", {"roi": {}}, None))  # left to the page's fetch


def test_gzip_only_where_taken_and_worth_it() -> None:
    assert accepts_gzip("gzip, deflate, br")
    assert accepts_gzip("br;q=1, *;q=0.1")
    assert not accepts_gzip("gzip;q=0, *")
    assert not accepts_gzip("identity")
    assert not accepts_gzip(None)
    script = (STATIC / "vigil.js").read_bytes()
    packed = encoded("text/javascript; charset=utf-8", script, "gzip")
    assert packed is not None
    assert gzip.decompress(packed) == script
    assert len(packed) < len(script) / 2
    assert encoded("text/javascript", script, "br") is None
    assert encoded("image/png", script, "gzip") is None
    assert encoded("text/css", b"x" * (MIN_BYTES - 1), "gzip") is None
