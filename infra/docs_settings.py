"""Writes docs/settings.md from the Settings model, so the list never drifts from the code.

``python -m infra.docs_settings`` rewrites the file; a test fails when it is out of date.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from shared.live_config import FIXED_FIELDS, LIVE_GROUPS
from shared.settings import ENV_PREFIX, Settings

TARGET = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
HEADER = """# Settings

Every setting is an environment variable `VIGIL_<GROUP>__<NAME>` (generated from
`shared/settings/` by `python -m infra.docs_settings`; do not edit by hand). Groups follow the
baseline administrator guide's tables. Unknown `VIGIL_*` keys are rejected at start-up. A
threshold set to `null` disables its check. Lists and tuples are given as JSON
(`VIGIL_THRESHOLDS__GLASSES='["no_glasses"]'`).

Production (`VIGIL_ENV=production`, the default) refuses to start without `VIGIL_JWT__KEY` of at
least 32 characters that looks random (no whitespace, not one repeated character, about 96 bits or
more by the estimate in `shared/secrets_rules.py`; the same rule for `VIGIL_JWT__RESULTS_KEY`).
A settings error names the variable and the rule, never the value. `make run` sets
`VIGIL_ENV=development`.

**Live groups** (marked below) can also be changed while the services run: the admin panel's
Settings section (or `vigil config set`) stores overrides in Redis per tag, validated by these same
models, and every service applies them from its next frame (`shared/live_config.py`). The
`default` tag applies everywhere; a tag's overrides go on top of it and apply to the frames of an
ingress started with `VIGIL_CONFIG_TAG` set to that tag. Other groups, and the fields marked
*environment only*, are read once at start.
"""


def render() -> str:
    lines = [HEADER]
    top = [(name, field) for name, field in Settings.model_fields.items()]
    lines.append("| variable | default | meaning |\n|---|---|---|")
    for name, field in top:
        if not _is_group(field.annotation):
            lines.append(f"| `{ENV_PREFIX}{name.upper()}` | {_show(field.default)} | {_meaning(field.description)} |")
    for name, field in top:
        group = field.annotation
        if not _is_group(group):
            continue
        assert isinstance(group, type)
        doc = (group.__doc__ or "").strip()
        lines.append(f"\n## {name}\n")
        if doc and not doc.startswith("!!!") and group.__module__.startswith("shared."):
            lines.append(doc + "\n")
        lines.append("Live: editable while running.\n" if name in LIVE_GROUPS else "Restart-only.\n")
        lines.append("| variable | default | meaning |\n|---|---|---|")
        fixed = FIXED_FIELDS.get(name, frozenset()) if name in LIVE_GROUPS else frozenset()
        for field_name, sub in group.model_fields.items():
            note = " (environment only)" if field_name in fixed else ""
            lines.append(f"| `{ENV_PREFIX}{name.upper()}__{field_name.upper()}` | {_show(sub.default)}{note} "
                         f"| {_meaning(sub.description)} |")
    return "\n".join(lines) + "\n"


def _is_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _meaning(description: str | None) -> str:
    """A setting's Field(description=...) for a table cell (its pipes escaped)."""
    return (description or "").replace("|", "\\|")


def _show(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, Path):
        value = str(value)
    return f"`{json.dumps(value)}`"


def main() -> None:
    TARGET.write_text(render())
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
