"""The stream registry (shared/streams.py) against the code and the key table (shared/keys.py)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import shared.keys
from shared.keys import Keys
from shared.streams import STREAMS, StreamSpec, key_name

ROOT = Path(__file__).resolve().parent.parent
CODE = [path for folder in ("services", "shared", "admin", "infra") for path in (ROOT / folder).rglob("*.py")]
ROWS = {match.group(1): line for line in (shared.keys.__doc__ or "").splitlines()
        if (match := re.match(r"\| ``(P:[^`]+)`` \|", line))}


def source(module: str) -> str:
    return (ROOT / module).read_text(encoding="utf-8")


def users(attribute: str) -> set[str]:
    pattern = re.compile(rf"\bkeys\.{attribute}\b")
    found = {str(path.relative_to(ROOT)) for path in CODE if pattern.search(path.read_text(encoding="utf-8"))}
    return found - {"shared/keys.py", "shared/streams.py"}


def test_every_stream_of_the_key_table_is_in_the_registry_once() -> None:
    names = {key_name(attribute) for attribute in vars(Keys) if not attribute.startswith("_")}
    streams = {name for name in names if name in ROWS and ROWS[name].split("|")[2].strip().startswith("stream")}
    registered = [key_name(spec.key) for spec in STREAMS]
    assert sorted(registered) == sorted(streams)
    assert len(set(registered)) == len(registered)


@pytest.mark.parametrize("spec", STREAMS, ids=lambda spec: spec.key)
def test_the_named_modules_are_exactly_those_that_use_the_stream(spec: StreamSpec) -> None:
    named = {*spec.producers, *spec.readers, *spec.observers}
    assert users(spec.key) == named
    if spec.message:
        assert any(spec.message in source(module) for module in spec.producers), spec.message


@pytest.mark.parametrize("spec", STREAMS, ids=lambda spec: spec.key)
def test_the_bound_is_applied_where_the_registry_says_and_the_table_says_the_same(spec: StreamSpec) -> None:
    code = source(spec.bound_at)
    if spec.bound.isdigit():
        numbers = {node.value for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Constant)}
        assert int(spec.bound) in numbers
    else:
        assert spec.bound.rpartition(".")[2] in code
    row = ROWS[key_name(spec.key)]
    assert spec.bound in row, row


@pytest.mark.parametrize("spec", STREAMS, ids=lambda spec: spec.key)
def test_every_stream_has_a_reader_and_the_table_does_not_say_otherwise(spec: StreamSpec) -> None:
    assert spec.readers, "a stream nobody reads gets a reader (an admin page, a vigil command) or is removed"
    assert "no process yet" not in ROWS[key_name(spec.key)]
