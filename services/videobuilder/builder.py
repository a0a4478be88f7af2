"""Building one claimed session: its held frames -> the video file, its JSON record, the task
hash, a ``VideoMessage`` on the videos stream, the user's hook.

Steps are ordered so that a builder dying at any point leaves the session due and claimable:
the file appears by an atomic rename, the message is published before the task is marked done
(at-least-once: a builder killed between the two makes another publish it again). A session that
may still resume has its frames written beside the video (held.py) before Redis lets go of them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
from redis.asyncio import Redis

from services.videobuilder import held
from services.videobuilder.claims import Claim
from services.videobuilder.encoder import EncodeResult, SourceFrame, encode_video
from services.videobuilder.hooks import Hook, run_hook
from services.videobuilder.idle import IdleThread
from services.videobuilder.records import (
    VideoRecord,
    record_path,
    remove_other_videos,
    remove_stale_parts,
    temp_path,
    video_path,
    write_json,
)
from services.videobuilder.tasks import Status, Task, TaskStore
from shared.bus import publish
from shared.errors import MessageDecodeError
from shared.keys import Keys
from shared.live_settings import LiveSettings
from shared.messages import ENTRY_FIELD, FrameMessage, decode
from shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Selection:
    frames: list[SourceFrame]
    held: int  # distinct frames held for the session, before frames_limit
    undecodable: int


def select_frames(payloads: Sequence[bytes], frames_limit: int) -> Selection:
    """The session's frames in ``frame_no`` order, each once, the last ``frames_limit`` if set."""
    by_number: dict[int, SourceFrame] = {}
    undecodable = 0
    for payload in payloads:
        try:
            frame = decode(FrameMessage, {ENTRY_FIELD: payload})
        except MessageDecodeError:
            undecodable += 1
            continue
        # A frame redelivered by the bus is held twice; the first copy is kept.
        by_number.setdefault(frame.frame_no, SourceFrame(frame.frame_no, frame.received_at, frame.image))
    ordered = [by_number[number] for number in sorted(by_number)]
    return Selection(ordered[-frames_limit:] if frames_limit else ordered, len(ordered), undecodable)


class Builder:
    def __init__(self, redis: Redis, keys: Keys, settings: Settings, tasks: TaskStore, hook: Hook | None,
                 live: LiveSettings | None = None) -> None:
        self.redis, self.keys, self.tasks, self.hook, self.live = redis, keys, tasks, hook, live
        self.video, self.stream_maxlen = settings.video, settings.bus.stream_maxlen
        # A dropped session can resume until its state expires, ttl_s after its last frame.
        self.resumable_s = settings.session.ttl_s
        self.encoder = IdleThread()

    async def build(self, session: str, score: float, task: Task, claim: Claim) -> None:
        # codec and frames_limit are live settings (the process's own tag): read at each build.
        video = (await self.live.for_tag(None)).video if self.live is not None else self.video
        codec = video.codec
        path = video_path(self.video.storage, session, codec).absolute()
        kept = held.held_path(path)
        payloads = [*held.load(kept), *await self.tasks.frames(session)]
        selection = select_frames(payloads, video.frames_limit)
        expected = min(task.session_frames or 0, video.frames_limit or (task.session_frames or 0))
        if selection.held < expected:
            # Expired, trimmed from the frames stream before they were read, or never published.
            log.warning("session %s: %d of its %d frames are held", session, selection.held, task.session_frames)
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_parts(path)
        part = temp_path(path, claim.token.rpartition("/")[2])
        started = time.perf_counter()
        try:
            result = await self.encoder.run(encode_video, selection.frames, part, codec)
            if claim.lost:
                log.warning("session %s: claim lost while encoding; leaving it to its new owner", session)
                return
            skipped = result.skipped_frames + selection.undecodable
            if result.frame_count == 0:
                log.warning("session %s: no usable frame (%d skipped); no video", session, skipped)
                await self._finish(session, score, Status.EMPTY, {"skipped_frames": str(skipped)}, task,
                                   kept, payloads)
                return
            os.replace(part, path)
            remove_other_videos(path)
        finally:
            part.unlink(missing_ok=True)
        record = self._record(session, path, task, result, skipped, codec)
        write_json(record, record_path(path))
        message = record.message()
        await publish(self.redis, self.keys.videos, message, maxlen=self.stream_maxlen)
        await run_hook(self.hook, message)
        await self._finish(session, score, Status.DONE, record.task_fields(), task, kept, payloads)
        log.info("session %s: %s video, %d frames (%d skipped), %.2f s, encoded in %.2f s", session, codec,
                 result.frame_count, skipped, result.duration_s, time.perf_counter() - started)

    async def _finish(self, session: str, score: float, status: Status, fields: dict[str, str], task: Task,
                      kept: Path, payloads: list[bytes]) -> None:
        """Mark the task; the frames leave Redis either way: a session that ended needs them no more,
        one that may resume finds them on disk (written first, so a crash between keeps both)."""
        if not task.ended:
            await anyio.to_thread.run_sync(held.save, kept, payloads)
        await self.tasks.finish(session, score, status, fields)
        if task.ended:
            kept.unlink(missing_ok=True)

    def sweep_held(self) -> int:
        """Forget the held frames of sessions that can no longer resume."""
        return held.sweep(self.video.storage, self.resumable_s) if self.video.storage.is_dir() else 0

    def _record(
        self, session: str, path: os.PathLike[str], task: Task, result: EncodeResult, skipped: int, codec: str,
    ) -> VideoRecord:
        return VideoRecord(
            session_id=session, path=os.fspath(path), frame_count=result.frame_count,
            skipped_frames=skipped, codec=codec, duration_s=result.duration_s,
            width=result.width, height=result.height, outcome=task.outcome, jwt_id=task.jwt_id,
            first_frame_at=result.first_at, last_frame_at=result.last_at, built_at=time.time(),
        )
