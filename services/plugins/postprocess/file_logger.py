"""FileLogger (stage 5): each session's incoming frames and the answers to them, as files.

Layout under ``file_logger.path``: ``{session}/{frame_no:05d}.jpg`` (or ``.png``) for every frame
and ``{session}/answers.jsonl`` with one ``AnswerLine`` per answer (shared/stored.py). Disk use is
bounded: session folders older than ``file_logger.retention_s`` are deleted, and the oldest
folders go first once the total passes ``file_logger.max_bytes``. File writes run off the event
loop. Frames come from ``P:frames`` and answers from ``P:decisions``, each with its own consumer
group. After each batch is written, ``progress`` announces it per session; the decider waits for
those announcements (bounded by ``file_logger.wait_ms``) before deciding the session's next frame
and before publishing its final answer, the guide's stage-5 ordering (docs/plugins.md).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import anyio

from services.plugins.postprocess.progress import ProgressLog
from shared.consumer import Delivery
from shared.messages import FrameMessage, ImageType, LoggedPart, ReplyMessage
from shared.settings import FileLoggerSettings
from shared.stored import AnswerLine, to_json_line

log = logging.getLogger(__name__)
SUFFIX = {ImageType.JPEG: ".jpg", ImageType.PNG: ".png"}


class FileLogger:
    def __init__(self, options: FileLoggerSettings, progress: ProgressLog | None = None) -> None:
        self.root, self.options, self.progress = options.path, options, progress
        self._last_sweep = 0.0

    def folder(self, session_id: str) -> Path:
        # Session ids are UUIDs checked by the ingress; refuse anything that could leave the root.
        if not session_id.replace("-", "").isalnum():
            raise ValueError(f"unsafe session id {session_id!r}")
        return self.root / session_id

    async def frames(self, batch: Sequence[Delivery[FrameMessage]]) -> None:
        frames = [d.message for d in batch]
        await anyio.to_thread.run_sync(self._write_frames, frames)
        # Announced only once every file of the batch is written: a failed write announces nothing
        # and the whole batch is retried (the consumer acknowledges after this returns).
        if self.progress is not None:
            await self.progress.written(LoggedPart.FRAME, [(f.session_id, f.frame_no) for f in frames])

    async def answers(self, batch: Sequence[Delivery[ReplyMessage]]) -> None:
        replies = [d.message for d in batch]
        await anyio.to_thread.run_sync(self._write_answers, replies)
        if self.progress is not None:
            await self.progress.written(LoggedPart.ANSWER, [(r.session_id, r.frame_no) for r in replies])

    def _write_frames(self, frames: list[FrameMessage]) -> None:
        for frame in frames:
            folder = self.folder(frame.session_id)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{frame.frame_no:05d}{SUFFIX[frame.content_type]}").write_bytes(frame.image)
        self._sweep()

    def _write_answers(self, replies: list[ReplyMessage]) -> None:
        for reply in replies:
            folder = self.folder(reply.session_id)
            folder.mkdir(parents=True, exist_ok=True)
            line = AnswerLine(frame=reply.frame_no, kind=reply.kind.value, codes=tuple(int(c) for c in reply.errors),
                              error=int(reply.error) if reply.error else None, end=reply.end, at=time.time())
            with (folder / "answers.jsonl").open("a") as handle:
                handle.write(to_json_line(line) + "\n")

    def _sweep(self) -> None:
        """Retention: at most once a minute, drop expired folders, then the oldest over the cap."""
        now = time.time()
        if now - self._last_sweep < 60 or not self.root.is_dir():
            return
        self._last_sweep = now
        folders = sorted((p for p in self.root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        sizes = {p: sum(f.stat().st_size for f in p.iterdir()) for p in folders}
        total = sum(sizes.values())
        for folder in folders:
            expired = now - folder.stat().st_mtime > self.options.retention_s
            if expired or total > self.options.max_bytes:
                shutil.rmtree(folder, ignore_errors=True)
                total -= sizes[folder]
                log.info("file logger: removed %s (%s)", folder.name, "expired" if expired else "over the cap")
