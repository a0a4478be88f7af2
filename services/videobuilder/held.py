"""A disconnected session's frames, held on disk beside its video until it can no longer resume.

A session last seen *disconnected* gets its video ``video.session_timeout`` after the drop, but
the person may still come back (``session.ttl_s`` after their last frame) and the video must then
be made again with every frame: one video per session. Those frames used to stay in Redis for
``video.expires`` (an hour): at 27 frames/s of dropped sessions that filled a 1 GiB ``maxmemory``
in 17 minutes (docs/operations.md, the soak). They now move to a file next to the video when its
video is built, and Redis holds a session's frame copies only until its first build.

The file ``.{session}.held`` is the frames' bus payloads, each as a 4-byte big-endian length and
the bytes; written to a part file and renamed, so a reader sees all of it or the previous one.
Builders on several hosts share ``video.storage`` (as the admin serving the videos does).
"""

from __future__ import annotations

import logging
import os
import struct
import time
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".held"
_LENGTH = struct.Struct(">I")


def held_path(video: Path) -> Path:
    """Beside the video, hidden, one per session whatever the codec."""
    return video.with_name(f".{video.stem}{SUFFIX}")


def save(path: Path, payloads: Sequence[bytes]) -> None:
    part = path.with_name(f"{path.name}.part")
    with part.open("wb") as out:
        for payload in payloads:
            out.write(_LENGTH.pack(len(payload)))
            out.write(payload)
    os.replace(part, path)


def load(path: Path) -> list[bytes]:
    """The payloads held for a session (none when there is no file); a file cut short (a disk
    that filled while writing: the rename never happened, so only by hand) yields what is whole."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    payloads: list[bytes] = []
    at = 0
    while at + _LENGTH.size <= len(data):
        (size,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        if at + size > len(data):
            log.warning("%s: cut short after %d frames", path, len(payloads))
            break
        payloads.append(data[at:at + size])
        at += size
    return payloads


def sweep(storage: Path, older_than_s: float, now: float | None = None) -> int:
    """Delete held frames whose session can no longer resume; how many files went."""
    cutoff = (time.time() if now is None else now) - older_than_s
    removed = 0
    for path in storage.glob(f".*{SUFFIX}"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # another builder swept it first
    return removed
