"""Real media for tests, from the shared data folder (never copied into the repository)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from infra.media import to_jpeg

FACE_PHOTO = "face_recognition_ageitgey/examples__obama-1080p.jpg"
TWO_PEOPLE = "face_recognition_ageitgey/examples__two_people.jpg"
OTHER_FACE = "deepface_serengil/img11.jpg"
# A neutral frontal CC0 portrait (eyes open, mouth closed): passes every per-frame check.
NEUTRAL_FACE = "cc0_portraits_interfaces/001.jpg"


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    return to_jpeg(image, quality=quality)


def photo(data_dir: Path, name: str, max_side: int = 1280) -> Image.Image:
    with Image.open(data_dir / name) as image:
        copy = image.convert("RGB")
    copy.thumbnail((max_side, max_side))
    return copy


def face_jpeg(data_dir: Path) -> bytes:
    return jpeg(photo(data_dir, FACE_PHOTO))


def neutral_jpeg(data_dir: Path) -> bytes:
    return jpeg(photo(data_dir, NEUTRAL_FACE))


def no_face_jpeg(data_dir: Path) -> bytes:
    """A real photo's background: the left part of the Obama portrait, which holds no face."""
    image = photo(data_dir, FACE_PHOTO)
    return jpeg(image.crop((0, 0, image.width * 2 // 5, image.height)))


def png_bomb(width: int, height: int) -> bytes:
    """A PNG announcing ``width`` x ``height`` grey pixels, every row zero: a decompression bomb
    (20000 x 20000 is ~390 KB of zlib for 400 MB of pixels)."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\0" * ((width + 1) * height), 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
