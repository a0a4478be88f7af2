"""Consumes estimations, joins the plugins' verdicts, applies the session policy, and replies
on each session's own stream, recording every decision in the session's audit stream."""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence

import anyio
import msgpack
from redis.asyncio import Redis

from services.decider.join import join_plugins
from services.decider.policy import Decision, decide
from services.decider.replies import error_reply, stats_reply, success_reply, token_claims
from services.decider.report import estimations
from services.decider.signing import SigningKey
from services.decider.state import AuditKind, SessionState
from services.decider.store import SessionStore
from shared.consumer import Delivery
from shared.keys import Keys
from shared.messages import EstimationMessage, Estimations, ReplyMessage, encode
from shared.plugins import enabled_plugins
from shared.settings import Env, Settings

log = logging.getLogger(__name__)


class Decider:
    def __init__(self, redis: Redis, keys: Keys, settings: Settings, signing: SigningKey) -> None:
        self.redis, self.keys, self.settings, self.signing = redis, keys, settings, signing
        self.store = SessionStore(redis, keys, settings)
        # The plugins whose verdict every frame waits for (shared/plugins.py decides which).
        self.expected = enabled_plugins(settings)

    async def handle(self, batch: Sequence[Delivery[EstimationMessage]]) -> None:
        # Sessions are decided concurrently (plugin waits must not hold up other sessions);
        # the frames of one session in order.
        by_session: dict[str, list[EstimationMessage]] = defaultdict(list)
        for delivery in batch:
            by_session[delivery.message.session_id].append(delivery.message)
        async with anyio.create_task_group() as tasks:
            for frames in by_session.values():
                tasks.start_soon(self._decide_in_order, sorted(frames, key=lambda e: e.frame_no))

    async def _decide_in_order(self, frames: list[EstimationMessage]) -> None:
        for estimation in frames:
            await self.decide_frame(estimation)

    async def decide_frame(self, estimation: EstimationMessage) -> None:
        if estimation.error is not None:
            await self._publish(error_reply(estimation, estimation.error))
            return
        state = await self.store.load(estimation.session_id)
        if estimation.frame_no <= state.last_frame_no:
            # At-least-once delivery: this frame was decided (and answered) already.
            log.info("session %s frame %d already decided", estimation.session_id, estimation.frame_no)
            return
        plugins = {}
        if estimation.main_face is not None:
            plugins = await join_plugins(self.redis, self.keys, self.settings, estimation.session_id,
                                         estimation.request_id, self.expected)
        jwt_id = str(uuid.uuid4())
        decision = decide(state, estimation, plugins, self.settings, now=time.time(), jwt_id=jwt_id)
        full = estimations(estimation, decision.checks, self.settings, full=True, progress=decision.progress)
        bestshot = None
        if any(event.kind is AuditKind.BESTSHOT for event in decision.events) and estimation.image is not None:
            bestshot = msgpack.packb({"image": estimation.image, "estimations": full.model_dump(
                mode="json", by_alias=True, exclude_none=True)})
        if decision.success:
            reply = await self._success(estimation, state, decision, bestshot, jwt_id)
        else:
            shown = full if self.settings.env is Env.DEVELOPMENT else estimations(
                estimation, decision.checks, self.settings, full=False, progress=decision.progress)
            reply = stats_reply(estimation, decision.codes, shown, decision.end)
        await self.store.commit(state, decision.events, reply, bestshot)

    async def _success(self, estimation: EstimationMessage, state: SessionState, decision: Decision,
                       bestshot: bytes | None, jwt_id: str) -> ReplyMessage:
        stored = bestshot or await self.store.bestshot(state.session_id)
        if stored is None:
            raise RuntimeError(f"session {state.session_id}: success without a best shot")
        best = msgpack.unpackb(stored, raw=False)
        claims = token_claims(state.session_id, jwt_id, best["image"], Estimations.model_validate(best["estimations"]))
        log.info("session %s passed at frame %d (%s)", state.session_id, estimation.frame_no, decision.codes)
        return success_reply(estimation, self.signing.sign(claims), jwt_id)

    async def _publish(self, reply: ReplyMessage) -> None:
        stream = self.keys.reply(reply.session_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(stream, encode(reply), maxlen=self.settings.bus.reply_maxlen, approximate=True)  # type: ignore[arg-type]
            pipe.expire(stream, self.settings.session.ttl_s)
            pipe.xadd(self.keys.decisions, encode(reply), maxlen=self.settings.bus.stream_maxlen,  # type: ignore[arg-type]
                      approximate=True)
            await pipe.execute()
