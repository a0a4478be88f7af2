"""``vigil replay SESSION``: load the recording, apply a settings file, print the diff."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from infra.replay.engine import Row, replay
from infra.replay.recorded import Answer, load, load_range
from shared.bus import connect
from shared.errors import ConfigError
from shared.keys import Keys
from shared.settings import Settings, load_settings


def merged(settings: Settings, changes: dict[str, Any]) -> Settings:
    """``settings`` with ``changes`` (a JSON object of Settings fields, nested by group) applied."""
    def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in update.items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        return out

    return Settings.model_validate(merge(settings.model_dump(), changes))


def describe(answer: Answer | None) -> str:
    if answer is None:
        return "-"
    text = f"{answer.kind} {list(answer.codes)}" + (f" end={answer.end}" if answer.end else "")
    if answer.liveness is not None:
        text += f" live={answer.liveness:.3f}"
    if answer.yaw is not None:
        text += f" yaw={answer.yaw:.1f}"
    return text


def line(row: Row) -> str:
    mark = "  " if row.same else "!="
    return f"{row.frame_no:>5} {mark} recorded {describe(row.recorded):<48} replayed {describe(row.replayed)}"


async def run(session_id: str | None, settings: Settings, prefix: str, files: Path | None,
              stream_range: tuple[str, str] | None = None) -> int:
    redis = connect(settings)
    keys = Keys(prefix)
    rows = []
    try:
        if stream_range is not None:
            recordings = await load_range(redis, keys, *stream_range)
        else:
            assert session_id is not None
            recordings = [await load(redis, keys, session_id, files)]
        recordings = [r for r in recordings if r.frames]
        if not recordings:
            print(f"vigil replay: no frames found under {keys.frames}" + ("" if stream_range else f" or in {files}"))
            return 1
        for recording in recordings:
            print(f"session {recording.session_id}: {len(recording.frames)} frames; " +
                  ", ".join(f"{what} from {where}" for what, where in recording.sources.items()))
            rows += await replay(redis, recording, settings, on_row=lambda row: print(line(row)))
    finally:
        await redis.aclose()
    changed = sum(not row.same for row in rows)
    print(f"{changed} of {len(rows)} frames decided differently")
    return 0 if changed == 0 else 3


def main(session_id: str | None, *, settings_file: Path | None, prefix: str | None, files: Path | None,
         stream_range: tuple[str, str] | None = None) -> int:
    if (session_id is None) == (stream_range is None):
        print("vigil replay: give a SESSION or --from-stream (with --start / --end), not both", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        if settings_file is not None:
            settings = merged(settings, json.loads(settings_file.read_text()))
    except (ConfigError, ValueError, OSError) as exc:
        print(f"vigil replay: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(run(session_id, settings, prefix or settings.redis.key_prefix,
                           files or settings.file_logger.path, stream_range))

