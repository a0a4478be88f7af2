"""Stage-5 ordering: the FileLogger's work on a session is finished before the decider moves on.

The guide requires post-processing of a frame (FileLogger) to complete before the next frame of
that session is decided, or before the session ends. The FileLogger runs in the plugins service
and announces each file it wrote on the session's ``Keys.file_log_progress`` stream; the decider
only reads that stream (no service imports another). When ``file_logger.is_enabled``:

* before deciding a frame, the decider waits until the previous decided frame of the session has
  its image and its answer written (by induction, every earlier decided frame too);
* before publishing an answer that ends the session, it waits until that frame's image is written,
  so every frame of the session is on disk when the client learns the outcome. The final answer's
  own line follows it (the logger learns the answer from ``P:decisions``, which the same commit
  writes), typically within milliseconds, and is retried from the stream if the logger dies.

Each wait is bounded by ``file_logger.wait_ms``. When one lapses (a dead or stalled logger) the
frame is decided anyway, a warning is logged and ``Keys.file_log_lapsed`` marks the session, so
its later frames do not wait again: one lapse costs a session one wait, never a hang, and the log
of that session is best effort from then on (nothing is lost: the entries stay pending on the
streams and the logger writes them when it is back).
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis

from shared.bus import Cursor, read_until, text
from shared.keys import Keys
from shared.messages import FileLogProgress, LoggedPart, decode
from shared.settings import Settings

log = logging.getLogger(__name__)
# The parts waited for are the newest a session has (its previous frame, or the current frame's
# image), so a short look back from the end of the stream settles almost every wait.
LOOK_BACK = 16
PROGRESS_PER_READ = 64
Part = tuple[int, LoggedPart]


async def before_deciding(redis: Redis, keys: Keys, settings: Settings, session_id: str,
                          previous_frame_no: int) -> bool:
    """Wait until the previous decided frame's image and answer are written; False on a lapse."""
    if previous_frame_no < 1:
        return True
    needed = {(previous_frame_no, LoggedPart.FRAME), (previous_frame_no, LoggedPart.ANSWER)}
    return await _wait(redis, keys, settings, session_id, needed)


async def before_final_answer(redis: Redis, keys: Keys, settings: Settings, session_id: str,
                              frame_no: int) -> bool:
    """Wait until the last frame's image is written (earlier frames were waited for already)."""
    return await _wait(redis, keys, settings, session_id, {(frame_no, LoggedPart.FRAME)})


async def _wait(redis: Redis, keys: Keys, settings: Settings, session_id: str, needed: set[Part]) -> bool:
    options = settings.file_logger
    if not options.is_enabled or options.wait_ms == 0:
        return True
    stream = keys.file_log_progress(session_id)
    deadline = time.monotonic() + options.wait_ms / 1000
    async with redis.pipeline(transaction=False) as pipe:  # one round trip on the usual, settled path
        pipe.exists(keys.file_log_lapsed(session_id))
        pipe.xrevrange(stream, count=LOOK_BACK)
        lapsed, recent = await pipe.execute()
    if lapsed:
        return False  # lapsed earlier in this session: do not make every frame pay the wait again
    missing = needed - _parts(recent)
    if missing and len(recent) == LOOK_BACK:
        missing -= _parts(await redis.xrevrange(stream))
    if not missing:
        return True

    def all_written(progress: FileLogProgress) -> bool:
        missing.discard((progress.frame_no, progress.part))
        return not missing

    cursor = Cursor(stream, text(recent[0][0]) if recent else "0-0")
    if await read_until(redis, cursor, FileLogProgress, all_written, deadline=deadline, count=PROGRESS_PER_READ):
        return True
    return await _lapse(redis, keys, settings, session_id, missing)


def _parts(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> set[Part]:
    messages = (decode(FileLogProgress, fields) for _, fields in entries)
    return {(m.frame_no, m.part) for m in messages}


async def _lapse(redis: Redis, keys: Keys, settings: Settings, session_id: str, missing: set[Part]) -> bool:
    frame_no = max(frame for frame, _ in missing)
    log.warning("session %s: the file logger has not written %s within %d ms; going on without it, and the "
                "rest of this session will not wait", session_id, sorted(missing), settings.file_logger.wait_ms)
    await redis.set(keys.file_log_lapsed(session_id), frame_no, ex=settings.session.ttl_s)
    return False
