"""``vigil eval``: plan, run, summarise, write var/eval/{eval.json, scores.svg} and print the table."""

from __future__ import annotations

import dataclasses
import json
import platform
import signal
import sys
import time
from pathlib import Path
from typing import Any

from infra.eval.media import Media
from infra.eval.metrics import summarise
from infra.eval.plan import trials
from infra.eval.render import svg, table
from infra.eval.runner import CONFIGURATION, SessionResult, run_plan


def evaluate(media_root: Path, out: Path, *, full: bool, sessions: int) -> tuple[dict[str, Any], list[SessionResult]]:
    plan = trials(full=full, sessions=sessions)
    started = time.time()
    results = run_plan(Media(media_root), plan)
    summary = summarise(results)
    document = {
        "run": {"full": full, "sessions_per_kind_and_media": sessions, "media": str(media_root),
                "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
                "wall_s": round(time.time() - started, 1), "machine": f"{platform.machine()} {platform.node()}",
                "python": platform.python_version(),
                "configuration": {k: v for k, v in CONFIGURATION.items() if "KEY" not in k}},
        "summary": summary,
        "sessions": [{**dataclasses.asdict(r), "kind": r.kind.value, "deciding": r.deciding} for r in results],
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "eval.json").write_text(json.dumps(document, indent=1))
    (out / "scores.svg").write_text(svg(results))
    return document, results


def main(media_root: Path, out: Path, *, full: bool, sessions: int | None) -> int:
    if not (media_root / "manifest.json").is_file():
        print(f"vigil eval: {media_root} has no manifest.json (the media folder, e.g. ../shared/data)", file=sys.stderr)
        return 2
    # A terminated run still stops its services and its Redis (the finally blocks run on exit).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    document, _ = evaluate(media_root, out, full=full, sessions=sessions or (3 if full else 1))
    print(table(document["summary"]))
    print(f"\nwritten: {out / 'eval.json'}, {out / 'scores.svg'}")
    return 0
