"""The documentation lists what the code defines: settings and every error code."""

from __future__ import annotations

import re
from pathlib import Path

from infra import docs_streams
from infra.docs_settings import TARGET, render
from shared.errors import FrameCheck, SystemCode

PROTOCOL = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"


def test_settings_doc_is_current() -> None:
    assert TARGET.read_text() == render(), "run: python -m infra.docs_settings"


def test_the_key_table_s_streams_are_the_registry_s() -> None:
    written = docs_streams.written(docs_streams.TARGET.read_text())
    assert written == docs_streams.render(), "run: python -m infra.docs_streams"


def test_every_code_is_documented_with_its_number() -> None:
    text = PROTOCOL.read_text()
    for code in [*FrameCheck, *SystemCode]:
        assert re.search(rf"^\| {int(code)} \| {code.name} \|", text, re.MULTILINE), code
