"""Consumes estimations, joins the plugins' verdicts, applies the session policy, and replies
on each session's own stream, recording every decision in the session's audit stream."""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence

import anyio
from redis.asyncio import Redis

from services.decider import postprocess
from services.decider.binding import bind
from services.decider.join import join_plugins
from services.decider.policy import Decision, decide
from services.decider.replies import error_reply, stats_reply, success_reply, token_claims
from services.decider.report import estimations
from services.decider.signing import SigningKeys
from services.decider.state import AuditKind, SessionState, advance
from services.decider.store import SessionStore, add_reply
from shared.consumer import Delivery
from shared.keys import Keys
from shared.live_settings import LiveSettings
from shared.messages import EstimationMessage, ReplyMessage
from shared.plugins import enabled_plugins
from shared.settings import Env, Settings
from shared.stored import BestShot

log = logging.getLogger(__name__)


class Decider:
    def __init__(self, redis: Redis, keys: Keys, live: LiveSettings, signing: SigningKeys) -> None:
        self.redis, self.keys, self.live, self.signing = redis, keys, live, signing
        self.store = SessionStore(redis, keys)

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
        # The frame's tag picks the live settings (shared/live_config.py): changes apply from the next frame.
        settings = await self.live.for_tag(estimation.config_tag)
        if estimation.error is not None:
            await self._publish(error_reply(estimation, estimation.error), settings)
            return
        state = await self.store.load(estimation.session_id, settings)
        if estimation.frame_no <= state.last_frame_no:
            # At-least-once delivery: this frame was decided (and answered) already.
            log.info("session %s frame %d already decided", estimation.session_id, estimation.frame_no)
            return
        # Stage 5 (docs/plugins.md): the previous frame's FileLogger work is finished first.
        await postprocess.before_deciding(self.redis, self.keys, settings, estimation.session_id, state.last_frame_no)
        plugins = {}
        if estimation.main_face is not None:
            # The plugins whose verdict the frame waits for (shared/plugins.py decides which).
            plugins = await join_plugins(self.redis, self.keys, settings, estimation.session_id,
                                         estimation.request_id, enabled_plugins(settings))
        jwt_id = str(uuid.uuid4())
        decision = decide(state, estimation, plugins, settings, now=time.time(), jwt_id=jwt_id)
        full = estimations(estimation, decision.checks, settings, full=True, progress=decision.progress,
                           light=decision.light)
        bestshot = None
        if any(event.kind is AuditKind.BESTSHOT for event in decision.events) and estimation.image is not None:
            # The light step shown at that moment is no part of the token's estimations.
            bestshot = BestShot(image=estimation.image, estimations=full.model_copy(update={"light_challenge": None}))
        after = advance(state, decision.events, settings.session.aggregate_frames)
        if decision.success:
            reply = await self._success(estimation, after, decision, bestshot, jwt_id, settings)
        else:
            shown = full if settings.env is Env.DEVELOPMENT else estimations(
                estimation, decision.checks, settings, full=False, progress=decision.progress, light=decision.light)
            reply = stats_reply(estimation, decision.codes, shown, decision.end)
        if decision.end is not None:
            await postprocess.before_final_answer(self.redis, self.keys, settings, estimation.session_id,
                                                  estimation.frame_no)
        await self.store.commit(after, decision.events, reply, bestshot, settings)

    async def _success(self, estimation: EstimationMessage, after: SessionState, decision: Decision,
                       bestshot: BestShot | None, jwt_id: str, settings: Settings) -> ReplyMessage:
        """``after``: the session with this frame's events applied (its transcript includes it)."""
        stored = bestshot if bestshot is not None else await self.store.bestshot(after.session_id)
        if stored is None:
            raise RuntimeError(f"session {after.session_id}: success without a best shot")
        claims = token_claims(after.session_id, jwt_id, stored.image, stored.estimations, decision.defences)
        claims["transcript"] = after.transcript
        claims = await bind(self.redis, self.keys, settings, after.session_id, claims)  # iss, aud, nonce; minimal
        log.info("session %s passed at frame %d (%s)", after.session_id, estimation.frame_no, decision.codes)
        return success_reply(estimation, self.signing.for_settings(settings).sign(claims), jwt_id)

    async def _publish(self, reply: ReplyMessage, settings: Settings) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            add_reply(pipe, self.keys, reply, settings)
            await pipe.execute()
