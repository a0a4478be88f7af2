"""Recording mode of the light challenge: real sessions kept for calibrating its thresholds.

The thresholds were set on a SIMULATED evaluation (docs/evaluation.md). With
``light_challenge.record`` on, every frame the plugin sees is written to
``recordings_path/<session id>/``: its image (``frame-000001.jpg``) and one ``RecordedFrame`` line
in ``timeline.jsonl`` (arrival time, the page's tags, the steps issued so far), so
``vigil eval light --from-recordings DIR`` measures and decides the real sessions again. Frames
are personal data: the mode is off by default and the folder is the operator's to delete.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import anyio

from shared.light import IssuedStep, RecordedFrame
from shared.messages import EstimationMessage, ImageType

TIMELINE = "timeline.jsonl"
SUFFIXES = {ImageType.JPEG: ".jpg", ImageType.PNG: ".png"}


class LightRecorder:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def record(self, estimation: EstimationMessage, issued: list[IssuedStep], retries: int,
                     verdict: str) -> None:
        await anyio.to_thread.run_sync(self._write, estimation, issued, retries, verdict)

    def _write(self, estimation: EstimationMessage, issued: list[IssuedStep], retries: int, verdict: str) -> None:
        # A UUID never escapes the folder; anything else is refused rather than written.
        folder = self.root / str(uuid.UUID(estimation.session_id))
        folder.mkdir(parents=True, exist_ok=True)
        image = None
        if estimation.image is not None and estimation.content_type is not None:
            image = f"frame-{estimation.frame_no:06d}{SUFFIXES[estimation.content_type]}"
            (folder / image).write_bytes(estimation.image)
        client = estimation.client
        line = RecordedFrame(
            frame_no=estimation.frame_no, received_at=estimation.received_at, image=image,
            light=client.light.value if client and client.light else None,
            light_step=client.light_step if client else None,
            light_painted_ms=client.light_painted_ms if client else None,
            frame_time_ms=client.frame_time_ms if client else None,
            mirrored=bool(client and client.mirrored), verdict=verdict, retries=retries, issued=tuple(issued),
        )
        with (folder / TIMELINE).open("a", encoding="utf-8") as timeline:
            timeline.write(line.model_dump_json() + "\n")
