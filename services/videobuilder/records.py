"""A finished video's record: the JSON file beside the video, the task hash, the stream message."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from services.videobuilder.encoder import PROFILES, Codec
from shared.errors import VigilError
from shared.messages import SessionOutcome, VideoMessage

# Session ids become file names: the ingress makes UUIDs, anything with a path in it is refused.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")


class VideoError(VigilError):
    """A session's video cannot be built (e.g. its id is not usable as a file name)."""


class VideoRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str
    path: str
    frame_count: int
    skipped_frames: int
    codec: Codec
    duration_s: float
    width: int
    height: int
    outcome: SessionOutcome | None = None
    jwt_id: str | None = None
    first_frame_at: float
    last_frame_at: float
    built_at: float

    def message(self) -> VideoMessage:
        return VideoMessage(
            session_id=self.session_id, path=self.path, frame_count=self.frame_count, codec=self.codec,
            duration_s=self.duration_s, outcome=self.outcome, jwt_id=self.jwt_id,
            skipped_frames=self.skipped_frames,
        )

    def task_fields(self) -> dict[str, str]:
        """The task hash's fields (Redis hashes hold strings; absent values are left out)."""
        return {key: str(value) for key, value in self.model_dump(mode="json").items() if value is not None}


def video_path(storage: Path, session_id: str, codec: Codec) -> Path:
    if not _SAFE_NAME.match(session_id):
        raise VideoError(f"session id {session_id!r} is not usable as a file name")
    return storage / f"{session_id}.{PROFILES[codec].extension}"


def remove_other_videos(video: Path) -> None:
    """A session rebuilt after the codec setting changed keeps one video, not one per container."""
    for profile in PROFILES.values():
        other = video.with_suffix(f".{profile.extension}")
        if other != video:
            other.unlink(missing_ok=True)


def record_path(video: Path) -> Path:
    return video.with_suffix(".json")


def temp_path(video: Path, owner: str) -> Path:
    # Hidden and named by the builder, so a half-written file is never taken for a video.
    return video.with_name(f".{video.stem}.{owner}.part{video.suffix}")


def remove_stale_parts(video: Path) -> None:
    """Delete what a builder that died on this session left (the caller holds its claim)."""
    for part in video.parent.glob(f".{video.stem}.*.part{video.suffix}"):
        part.unlink(missing_ok=True)


def write_json(record: VideoRecord, path: Path) -> None:
    part = path.with_name(f".{path.name}.part")
    part.write_text(record.model_dump_json(indent=2) + "\n", encoding="utf-8")
    os.replace(part, path)  # readers see the old record or the new one, never half a file
