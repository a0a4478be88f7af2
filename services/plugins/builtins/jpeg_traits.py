"""What a frame's JPEG structure says about the encoder that produced it (VirtualCameraChecker).

The check page (services/ingress/static/vigil.js) draws every camera frame on a canvas and sends
``canvas.toDataURL("image/jpeg", jpegQuality)``: the camera's own JPEG traits never reach the
server, only the browser's canvas encoder's. Chromium and Firefox encode with libjpeg(-turbo):
the standard (Annex K) tables scaled by the IJG rule at the page's quality, 4:2:0 chroma, a JFIF
APP0 and nothing else (tests/test_jpeg_traits.py reads Chromium's output). A frame that departs
from that was not encoded by the stock page in such a browser: it was forwarded from a camera or a
file, or made by another program (ffmpeg, an editor). What each trait can and cannot tell is in
docs/plugins.md.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from shared.jpeg_segments import START_OF_SCAN, header_segments
from shared.jpeg_tables import QUALITIES, STD_CHROMINANCE, STD_LUMINANCE, ijg_table

# Position in natural order of the k-th coefficient of a DQT segment (stored in zigzag order).
ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14,
    21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60,
    61, 54, 47, 55, 62, 63,
)
SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


@dataclass(frozen=True)
class JpegStructure:
    """The header segments up to the first scan."""

    tables: dict[int, tuple[int, ...]] = field(default_factory=dict)  # DQT id -> 64 values, natural order
    sof: int | None = None  # 0xC0 baseline, 0xC2 progressive, ...
    sampling: tuple[tuple[int, int], ...] = ()  # (h, v) per component, Y first
    app: tuple[tuple[int, bytes], ...] = ()  # (n of APPn, first bytes of its payload)
    comments: tuple[bytes, ...] = ()
    has_huffman_tables: bool = False


def parse(data: bytes) -> JpegStructure | None:
    """The JPEG's header segments, or None where the bytes are not a well-formed JPEG header."""
    tables: dict[int, tuple[int, ...]] = {}
    sof: int | None = None
    sampling: tuple[tuple[int, int], ...] = ()
    app: list[tuple[int, bytes]] = []
    comments: list[bytes] = []
    huffman = False
    for marker, body in header_segments(data):
        if marker == START_OF_SCAN:  # the header is over
            return JpegStructure(tables, sof, sampling, tuple(app), tuple(comments), huffman)
        if 0xE0 <= marker <= 0xEF:
            app.append((marker - 0xE0, body[:16]))
        elif marker == 0xFE:
            comments.append(body[:200])
        elif marker == 0xC4:
            huffman = True
        elif marker == 0xDB and not _read_tables(body, tables):
            return None
        elif marker in SOF_MARKERS and len(body) >= 6:
            count = body[5]
            components = body[6:6 + 3 * count]
            sof = marker
            sampling = tuple((components[i + 1] >> 4, components[i + 1] & 15) for i in range(0, len(components), 3))
    return None


def _read_tables(body: bytes, tables: dict[int, tuple[int, ...]]) -> bool:
    at = 0
    while at < len(body):
        precision, table_id = body[at] >> 4, body[at] & 15
        size = 128 if precision else 64
        raw = body[at + 1:at + 1 + size]
        if len(raw) != size:
            return False
        values = struct.unpack(">64H", raw) if precision else tuple(raw)
        natural = [0] * 64
        for k, value in enumerate(values):
            natural[ZIGZAG[k]] = value
        tables[table_id] = tuple(natural)
        at += 1 + size
    return True


IJG_TABLES = {q: (ijg_table(STD_LUMINANCE, q), ijg_table(STD_CHROMINANCE, q)) for q in QUALITIES}


def ijg_quality(structure: JpegStructure) -> int | None:
    """The IJG quality whose scaled standard tables these are exactly, or None (another encoder's
    tables). Several qualities can give one table set near 100; the highest is returned."""
    luminance, chrominance = structure.tables.get(0), structure.tables.get(1)
    matches = [q for q, (lum, chrom) in IJG_TABLES.items()
               if luminance == lum and (chrominance is None or chrominance == chrom)]
    return max(matches) if matches else None


def webkit_only(user_agent: str | None) -> bool:
    """Safari, and every browser on iOS/iPadOS, encode canvases with Apple's own encoder, whose
    traits were not measured here: their frames are not judged (docs/plugins.md)."""
    agent = user_agent or ""
    if "AppleWebKit" not in agent:
        return False
    return "iPhone" in agent or "iPad" in agent or not any(
        name in agent for name in ("Chrome/", "Chromium/", "Edg/", "OPR/"))


def findings(structure: JpegStructure, page_quality: int | None) -> dict[str, float]:
    """Departures from a libjpeg canvas encoder (Chromium, Firefox) at ``page_quality``."""
    found: dict[str, float] = {}
    quality = ijg_quality(structure)
    if quality is None:
        found["foreign_quantisation"] = 1.0
    elif page_quality is not None and quality != page_quality:
        found["quality_mismatch"] = 1.0
    if not _canvas_sampling(structure.sampling):
        found["chroma_subsampling"] = 1.0
    if _foreign_markers(structure):
        found["encoder_markers"] = 1.0
    return found


def _canvas_sampling(sampling: tuple[tuple[int, int], ...]) -> bool:
    # Chromium: 4:2:0 below quality 1.0, 4:4:4 at 1.0; Firefox's encoder switches to 4:4:4 at 0.9
    # and above (its source). UVC webcams' MJPEG and ffmpeg's yuvj422p are 4:2:2; grey has one component.
    if len(sampling) != 3:
        return False
    (yh, yv), chroma = sampling[0], sampling[1:]
    ratios = {(yh / ch, yv / cv) if ch and cv else None for ch, cv in chroma}
    return ratios in ({(1.0, 1.0)}, {(2.0, 2.0)})


def _foreign_markers(structure: JpegStructure) -> bool:
    """Segments a canvas encoder never writes: EXIF/XMP (APP1: a camera's or phone's file),
    Photoshop/Adobe (APP13/APP14), comments (ffmpeg writes ``Lavc...``, GIMP its name), a missing
    JFIF header, a non-baseline frame (progressive files) or missing Huffman tables (MJPEG straight
    from a UVC camera omits them)."""
    apps = {n for n, _ in structure.app}
    has_jfif = any(n == 0 and payload.startswith(b"JFIF\x00") for n, payload in structure.app)
    return (bool(apps & {1, 13, 14}) or bool(structure.comments) or not has_jfif or structure.sof != 0xC0
            or not structure.has_huffman_tables)
