"""Walking a JPEG's header segments, once for everyone who reads them (the ingress's bomb check in
shared/image_header.py, the VirtualCameraChecker's encoder traits), without decoding anything."""

from __future__ import annotations

import struct
from collections.abc import Iterator

START_OF_IMAGE = b"\xff\xd8"
START_OF_SCAN = 0xDA
# Markers without a length field: TEM and the restart markers.
STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def header_segments(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(marker, body) of each segment up to and including the start of scan (its body empty). A
    walk that stops before a start of scan met bytes that are not a well-formed JPEG header."""
    if not data.startswith(START_OF_IMAGE):
        return
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in STANDALONE:
            at += 2
            continue
        if marker == START_OF_SCAN:
            yield marker, b""
            return
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        body = data[at + 4:at + 2 + length]
        if length < 2 or len(body) != length - 2:
            return
        yield marker, body
        at += 2 + length
