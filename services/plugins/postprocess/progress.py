"""What the FileLogger has written, announced per session for the decider's stage-5 ordering.

After each batch of files is written (and before the batch is acknowledged), one
``FileLogProgress`` per frame image or answer line goes to the session's
``Keys.file_log_progress`` stream. The decider reads it before deciding the session's next frame
and before publishing its final answer (services/decider/postprocess.py); the two services share
only this stream and the message type.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from redis.asyncio import Redis

from shared.bus import add
from shared.keys import Keys
from shared.messages import FileLogProgress, LoggedPart
from shared.settings import Settings


class ProgressLog:
    def __init__(self, redis: Redis, keys: Keys, settings: Settings) -> None:
        self.redis, self.keys = redis, keys
        self.maxlen, self.ttl_s = settings.bus.reply_maxlen, settings.session.ttl_s

    async def written(self, part: LoggedPart, items: Iterable[tuple[str, int]]) -> None:
        """Announce ``part`` of each (session, frame) as written, in one round trip."""
        now = time.time()
        streams: set[str] = set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id, frame_no in items:
                stream = self.keys.file_log_progress(session_id)
                message = FileLogProgress(session_id=session_id, frame_no=frame_no, part=part, at=now)
                add(pipe, stream, message, maxlen=self.maxlen)
                streams.add(stream)
            for stream in streams:
                pipe.expire(stream, self.ttl_s)
            await pipe.execute()
