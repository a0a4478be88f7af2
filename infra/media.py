"""Frames from an image, a folder of images, or a video file, as JPEG bytes for the client."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import av
from PIL import Image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def to_jpeg(image: Image.Image, quality: int = 90, max_side: int | None = None) -> bytes:
    image = image.convert("RGB")
    if max_side and max(image.size) > max_side:
        image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def iter_frames(
    path: Path, *, every: int = 1, limit: int | None = None, max_side: int | None = 1280,
) -> Iterator[bytes]:
    """JPEG frames from ``path``: one image, the images of a folder (sorted), or a video."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for count, file in enumerate(files[::every]):
            if limit is not None and count >= limit:
                return
            with Image.open(file) as image:
                yield to_jpeg(image, max_side=max_side)
    elif path.suffix.lower() in IMAGE_SUFFIXES:
        with Image.open(path) as image:
            yield to_jpeg(image, max_side=max_side)
    else:
        with av.open(str(path)) as container:
            sent = 0
            for index, frame in enumerate(container.decode(video=0)):
                if index % every:
                    continue
                if limit is not None and sent >= limit:
                    return
                sent += 1
                yield to_jpeg(frame.to_image(), max_side=max_side)  # type: ignore[no-untyped-call]
