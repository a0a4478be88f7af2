"""Re-runs recorded frames through the estimator (EstimatorWorker.analyse_all) and the decider
(Decider.decide_frame) in this process, under a fresh key prefix of the same Redis, so nothing
of the live deployment is read or written. The plugins' recorded verdicts are copied under that
prefix (ActiveLiveness draws its actions at random: re-running it could not ask the same ones),
so the decider joins exactly what it joined live."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from infra.replay.recorded import Answer, Recording
from services.decider.decider import Decider
from services.decider.signing import SigningKeys
from services.estimator.main import build_analyser, build_detector
from services.estimator.worker import EstimatorWorker
from shared.bus import publish_many
from shared.keys import Keys
from shared.live_settings import LiveSettings
from shared.messages import Message, ReplyMessage, decode
from shared.settings import Settings


@dataclass(frozen=True)
class Row:
    frame_no: int
    recorded: Answer | None
    replayed: Answer | None

    @property
    def same(self) -> bool:
        """The same decision: kind, codes and end (scores may differ in their last digits)."""
        if self.recorded is None or self.replayed is None:
            return self.recorded == self.replayed
        a, b = self.recorded, self.replayed
        return (a.kind, a.codes, a.end) == (b.kind, b.codes, b.end)


async def replay(redis: Redis, recording: Recording, settings: Settings, *, prefix: str | None = None,
                 on_row: Callable[[Row], None] | None = None) -> list[Row]:
    """The recording's frames decided again with ``settings``; one row per frame, in order."""
    keys = Keys(prefix or f"replay{uuid.uuid4().hex[:10]}")
    settings = settings.model_copy(update={"redis": settings.redis.model_copy(update={"key_prefix": keys.prefix})})
    # Nothing is stored under the fresh prefix: every frame is decided with ``settings`` as given.
    live = LiveSettings(redis, keys, settings)
    worker = EstimatorWorker(redis, keys, live, build_detector(settings), build_analyser(settings))
    decider = Decider(redis, keys, live, SigningKeys())
    rows: list[Row] = []
    try:
        if recording.plugin_results:
            entries: list[tuple[str, Message]] = [(keys.plugin_results(r.session_id), r)
                                                  for r in recording.plugin_results]
            await publish_many(redis, entries, maxlen=max(settings.bus.reply_maxlen, len(entries)))
        for frame in recording.frames:
            references = await worker.references.load([frame.session_id])
            (estimation,), updated = worker.analyse_all([frame], references)
            await worker.references.save(updated)
            stream = keys.reply(frame.session_id)
            before = await redis.xrevrange(stream, count=1)
            await decider.decide_frame(estimation)
            after = await redis.xrevrange(stream, count=1)
            replayed = None
            if after and after != before:
                replayed = Answer.of(decode(ReplyMessage, after[0][1]))
            row = Row(frame.frame_no, recording.answers.get(frame.frame_no), replayed)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    finally:
        await _drop(redis, keys)
    return rows


async def _drop(redis: Redis, keys: Keys) -> None:
    """Delete everything written under the replay's prefix."""
    async for key in redis.scan_iter(match=f"{keys.prefix}:*", count=500):
        await redis.delete(key)
