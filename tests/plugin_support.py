"""Third-party plugins for tests: a package "installed" on a path, as pip would leave it."""

from __future__ import annotations

import textwrap
from pathlib import Path

from shared.plugin_protocol import ENTRY_POINT_GROUP


def install_plugin(site: Path, module: str, name: str, cls: str, source: str) -> Path:
    """A plugin package 'installed' on a path: its module and its distribution metadata."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{name} = {module}:{cls}\n")
    return site
