"""The media ``vigil eval`` plays, loaded once per run from the media folder (never copied).

Clips come from the committed annotation files (tests/annotations/active_liveness_segments.json
for genuine videos, infra/eval/smart_replay.json for screen replays with their shifted segments);
stills are read with their EXIF orientation applied.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from infra.eval.puppets import Clip, Segment, decode_frames, load_annotations

SMART_REPLAY = Path(__file__).resolve().parent / "smart_replay.json"


def shifted(clip: Clip, path: str, sha256: str, fps: float, frames: int, offset: int) -> Clip:
    """``clip``'s segments moved by ``offset`` frames onto another video of the same motion."""
    def move(segment: Segment) -> Segment:
        return dataclasses.replace(segment, start=segment.start + offset, end=segment.end + offset,
                                   peak=(segment.peak[0] + offset, segment.peak[1] + offset))

    return Clip(path=path, sha256=sha256, fps=fps, frame_count=frames,
                frontal=(clip.frontal[0] + offset, clip.frontal[1] + offset),
                reference_frame=clip.reference_frame + offset,
                actions={action: move(segment) for action, segment in clip.actions.items()})


def smart_replay_clips(genuine: dict[str, Clip], path: Path = SMART_REPLAY) -> dict[str, Clip]:
    document: dict[str, Any] = json.loads(path.read_text())
    return {item["path"]: shifted(genuine[item["genuine"]], item["path"], item["sha256"], float(item["fps"]),
                                  int(item["frames"]), int(item["offset"]))
            for item in document["media"]}


def plain_clip(path: str, fps: float, frames: int) -> Clip:
    """A video without annotated segments (only played in order)."""
    return Clip(path=path, sha256="", fps=fps, frame_count=frames, frontal=(0, 0), reference_frame=0, actions={})


class Media:
    """The media folder, with decoded frames cached per video."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.genuine = load_annotations()
        self.replays = smart_replay_clips(self.genuine)
        self._frames: dict[str, dict[int, bytes]] = {}
        self._manifest: dict[str, dict[str, Any]] | None = None

    def manifest(self) -> dict[str, dict[str, Any]]:
        if self._manifest is None:
            items: list[dict[str, Any]] = json.loads((self.root / "manifest.json").read_text())
            self._manifest = {item["file"]: item for item in items}
        return self._manifest

    def clip(self, path: str) -> Clip:
        if path in self.genuine:
            return self.genuine[path]
        if path in self.replays:
            return self.replays[path]
        item = self.manifest()[path]
        return plain_clip(path, float(item["fps"]), int(item["frames"]))

    def frames(self, path: str) -> dict[int, bytes]:
        """Every frame of the video as JPEG q90 at native size (what the annotations measured)."""
        if path not in self._frames:
            clip = self.clip(path)
            self._frames[path] = decode_frames(self.root / path, range(clip.frame_count))
        return self._frames[path]

    def still(self, path: str, max_side: int = 720) -> Image.Image:
        """A photo (EXIF orientation applied, at most ``max_side`` px), or ``video#frame``."""
        name, _, frame = path.partition("#")
        if frame:
            return Image.open(io.BytesIO(self.frames(name)[int(frame)])).convert("RGB")
        with Image.open(self.root / name) as image:
            upright = ImageOps.exif_transpose(image).convert("RGB")
        upright.thumbnail((max_side, max_side))
        return upright

