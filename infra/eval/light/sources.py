"""The real media the simulation relights, chosen from the media folder's manifest by rule only
(never by name, so held-out media are chosen the same way), and read without copying them.

* genuine: videos of category "genuine" or labelled "genuine", at least ``MIN_SIDE`` px on their
  short side (smaller faces are below the estimator's size gate anyway);
* swap: videos of category "deepfake" whose label starts with "deepfake" (face swaps and
  reenactments: the real-time swap kind stands in for them).

Frames are fitted into the page's box (640x480, swapped for portrait; scaled up or down as the
page's canvas does) and kept as JPEG q95 to bound memory; a session longer than the kept frames
plays them back and forth (ping-pong), so the face never jumps. PyAV scales while converting
(swscale), which is far cheaper than decoding full size and resizing.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from PIL import Image

MIN_SIDE = 240
KEPT_QUALITY = 95


@dataclass(frozen=True)
class Medium:
    path: str
    fps: float
    category: str
    label: str


def _media(root: Path) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads((root / "manifest.json").read_text())
    return [item for item in items if item.get("kind") == "video" and item.get("fps")]


def _medium(item: dict[str, Any]) -> Medium:
    return Medium(path=item["file"], fps=float(item["fps"]), category=item["category"], label=item["label"])


def genuine_media(root: Path) -> list[Medium]:
    return sorted((_medium(i) for i in _media(root)
                   if (i["category"] == "genuine" or i["label"] == "genuine")
                   and min(int(i["width"]), int(i["height"])) >= MIN_SIDE), key=lambda m: m.path)


def swap_media(root: Path) -> list[Medium]:
    return sorted((_medium(i) for i in _media(root)
                   if i["category"] == "deepfake" and str(i["label"]).startswith("deepfake")), key=lambda m: m.path)


def fit_box(width: int, height: int, box: tuple[int, int]) -> tuple[int, int]:
    """The size the page sends a camera picture at: fitted into the box (portrait: box turned)."""
    wide, high = box if width >= height else (box[1], box[0])
    scale = min(wide / width, high / height)
    return max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2))


class Footage:
    """A video's first ``seconds``, fitted into the page's box."""

    def __init__(self, root: Path, medium: Medium, box: tuple[int, int], seconds: float) -> None:
        self.medium = medium
        self._frames: list[bytes] = []
        with av.open(str(root / medium.path)) as container:
            for number, frame in enumerate(container.decode(video=0)):
                if number >= max(1, round(seconds * medium.fps)):
                    break
                width, height = fit_box(frame.width, frame.height, box)
                picture = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
                buffer = io.BytesIO()
                Image.fromarray(picture).save(buffer, format="JPEG", quality=KEPT_QUALITY)
                self._frames.append(buffer.getvalue())
        if not self._frames:
            raise ValueError(f"{medium.path}: no frames")

    def __len__(self) -> int:
        return len(self._frames)

    def index_at(self, seconds: float, window: tuple[int, int] | None = None) -> int:
        """The frame shown ``seconds`` into the footage (or into ``window``: first frame, count),
        played back and forth so the face never jumps."""
        first, count = window or (0, len(self._frames))
        if count == 1:
            return first
        step = int(max(seconds, 0.0) * self.medium.fps) % (2 * count - 2)
        return first + (step if step < count else 2 * count - 2 - step)

    def image(self, index: int) -> npt.NDArray[np.uint8]:
        with Image.open(io.BytesIO(self._frames[index])) as image:
            return np.asarray(image.convert("RGB"))
