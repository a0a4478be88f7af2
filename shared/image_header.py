"""An image's size as its header announces it, read without any decoder: a decompression bomb (a
small file announcing 20000x20000 pixels) is refused on these few bytes, before Pillow allocates
anything or raises its own bomb error (docs/protocol.md, code 1010)."""

from __future__ import annotations

import struct

from shared.errors import ImageError, SystemCode
from shared.jpeg_segments import header_segments
from shared.messages import ImageType

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def declared_size(data: bytes, image_type: ImageType) -> tuple[int, int]:
    """(width, height) from the header; ``ImageError`` NOT_AN_IMAGE when there is no readable one."""
    size = _png(data) if image_type is ImageType.PNG else _jpeg(data)
    if size is None or min(size) <= 0:
        raise ImageError(f"no readable {image_type.value} header", code=SystemCode.NOT_AN_IMAGE)
    return size


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(f"{width}x{height} is over {max_pixels} pixels", code=SystemCode.BAD_IMAGE_DIMENSIONS)


def _png(data: bytes) -> tuple[int, int] | None:
    if not data.startswith(PNG_SIGNATURE) or len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _jpeg(data: bytes) -> tuple[int, int] | None:
    for marker, body in header_segments(data):
        if marker in _SOF:
            if len(body) < 5:
                return None
            height, width = struct.unpack(">HH", body[1:5])
            return int(width), int(height)
    return None
