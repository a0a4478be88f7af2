"""Publishing a frame to the bus and waiting for its decision on the session's reply stream."""

from __future__ import annotations

import time
import uuid

from redis.asyncio import Redis

from services.ingress.images import CheckedImage
from shared.bus import Cursor, read_until, text
from shared.errors import ProtocolError, SystemCode
from shared.keys import Keys
from shared.messages import ClientInfo, FrameMessage, ReplyMessage
from shared.retention import StreamRetention
from shared.settings import Settings

# A session's reply stream holds one reply per frame: a few at most arrive between two reads.
REPLIES_PER_READ = 16


class FrameExchange:
    """One per connection: remembers the last reply id seen so no reply is missed or reused."""

    def __init__(self, redis: Redis, keys: Keys, settings: Settings, session_id: str,
                 retention: StreamRetention | None = None) -> None:
        self.redis, self.keys, self.settings = redis, keys, settings
        self.retention = retention or StreamRetention(settings.bus)
        self.session_id = session_id
        self.reply_stream = keys.reply(session_id)
        self._cursor = Cursor(self.reply_stream)

    async def start(self) -> None:
        latest = await self.redis.xrevrange(self.reply_stream, count=1)
        if latest:
            self._cursor.last_id = text(latest[0][0])

    async def submit(self, image: CheckedImage, frame_no: int, client: ClientInfo | None = None) -> ReplyMessage:
        request_id = uuid.uuid4().hex
        frame = FrameMessage(
            session_id=self.session_id, request_id=request_id, frame_no=frame_no,
            received_at=time.time(), content_type=image.image_type, image=image.data,
            width=image.width, height=image.height, client=client, config_tag=self.settings.config_tag,
        )
        await self.retention.publish(self.redis, [(self.keys.frames, frame, len(image.data))])  # count, size, age
        return await self._wait(request_id)

    async def _wait(self, request_id: str) -> ReplyMessage:
        found: list[ReplyMessage] = []

        def ours(message: ReplyMessage) -> bool:
            # Replies to an earlier connection's unanswered frame are not ours.
            if message.request_id == request_id:
                found.append(message)
            return bool(found)

        deadline = time.monotonic() + self.settings.ingress.reply_timeout_s
        if await read_until(self.redis, self._cursor, ReplyMessage, ours, deadline=deadline, count=REPLIES_PER_READ):
            return found[0]
        raise ProtocolError("no decision in time", code=SystemCode.PROCESSING_TIMEOUT)
