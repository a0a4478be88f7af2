"""Consumes estimations, runs the checks, and replies on each session's own stream."""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from services.decider.checks import run_checks
from services.decider.replies import error_reply, stats_reply
from shared.consumer import Delivery
from shared.keys import Keys
from shared.messages import EstimationMessage, ReplyMessage, encode
from shared.settings import Settings


class Decider:
    def __init__(self, redis: Redis, keys: Keys, settings: Settings) -> None:
        self.redis, self.keys, self.settings = redis, keys, settings

    def decide(self, estimation: EstimationMessage) -> ReplyMessage:
        if estimation.error is not None:
            return error_reply(estimation, estimation.error)
        return stats_reply(estimation, run_checks(estimation, self.settings), self.settings)

    async def handle(self, batch: Sequence[Delivery[EstimationMessage]]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for delivery in batch:
                reply = self.decide(delivery.message)
                stream = self.keys.reply(reply.session_id)
                pipe.xadd(stream, encode(reply), maxlen=self.settings.bus.reply_maxlen, approximate=True)  # type: ignore[arg-type]
                pipe.expire(stream, self.settings.session.ttl_s)
            await pipe.execute()
