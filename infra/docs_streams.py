"""Writes the streams' rows of the key table in shared/keys.py from the registry in
shared/streams.py, so the table never drifts from the code.

``python -m infra.docs_streams`` rewrites them; a test fails when they are out of date.
"""

from __future__ import annotations

from pathlib import Path

from shared.streams import STREAMS, StreamSpec, key_name

TARGET = Path(__file__).resolve().parent.parent / "shared" / "keys.py"
# The line above the rendered table in the docstring; the table ends at the next empty line.
MARKER = "Streams, rendered from shared/streams.py (``python -m infra.docs_streams``; edit the registry):"
HEAD = "| key | type | producer | consumers | retention |\n|---|---|---|---|---|"


def row(spec: StreamSpec) -> str:
    kind = f"stream of ``{spec.message}``{spec.entries}" if spec.message else f"stream{spec.entries}"
    return (f"| ``{key_name(spec.key)}`` | {kind} | {spec.written_by} | {spec.read_by} "
            f"| ``MAXLEN ~ {spec.bound}``{spec.retention} |")


def render() -> str:
    return "\n".join([HEAD, *(row(spec) for spec in STREAMS)])


def written(source: str) -> str:
    """The table as ``source`` (shared/keys.py) has it now."""
    after = source.split(f"\n{MARKER}\n\n", 1)[1]
    return after.split("\n\n", 1)[0]


def main() -> None:
    source = TARGET.read_text()
    TARGET.write_text(source.replace(f"{MARKER}\n\n{written(source)}\n\n", f"{MARKER}\n\n{render()}\n\n", 1))
    print(f"wrote the stream table of {TARGET}")


if __name__ == "__main__":
    main()
