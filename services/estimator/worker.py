"""Turns a batch of frames into estimations: decode, detect, publish."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence

import anyio
from redis.asyncio import Redis

from services.estimator.analysis import FaceAnalyser
from services.estimator.decode import decode_rgb
from services.estimator.model import FaceDetector
from services.estimator.timings import Timings
from shared.bus import publish_many
from shared.consumer import Delivery
from shared.errors import ImageError
from shared.faces import select_main_face
from shared.keys import Keys
from shared.messages import EstimationMessage, FrameMessage, Message
from shared.settings import Settings

log = logging.getLogger(__name__)


class EstimatorWorker:
    def __init__(self, redis: Redis, keys: Keys, settings: Settings, detector: FaceDetector,
                 analyser: FaceAnalyser) -> None:
        self.redis, self.keys, self.settings = redis, keys, settings
        self.detector, self.analyser = detector, analyser

    async def handle(self, batch: Sequence[Delivery[FrameMessage]]) -> None:
        frames = [delivery.message for delivery in batch]
        # CPU-bound model work runs off the event loop, so the loop keeps serving Redis.
        estimations = await anyio.to_thread.run_sync(self.analyse_all, frames)
        entries: list[tuple[str, Message]] = [(self.keys.estimations, e) for e in estimations]
        await publish_many(self.redis, entries, maxlen=self.settings.bus.stream_maxlen)

    def analyse_all(self, frames: list[FrameMessage]) -> list[EstimationMessage]:
        return [self.analyse(frame) for frame in frames]

    def analyse(self, frame: FrameMessage) -> EstimationMessage:
        common = {
            "session_id": frame.session_id, "request_id": frame.request_id, "frame_no": frame.frame_no,
            "received_at": frame.received_at, "client": frame.client,
            "image_sha256": hashlib.sha256(frame.image).hexdigest(),
        }
        try:
            image = decode_rgb(frame.image)
        except ImageError as exc:
            log.info("session %s frame %d: %s", frame.session_id, frame.frame_no, exc)
            return EstimationMessage(**common, frame_width=frame.width, frame_height=frame.height, error=exc.code)
        timings = Timings()
        with timings.stage("detect"):
            faces = tuple(self.detector.detect(image))
        height, width = image.shape[:2]
        selection = select_main_face(faces, width, height, self.settings.roi, self.settings.session.multiface_policy)
        analysis = None
        if selection.index is not None:
            analysis = self.analyser.analyse(image, faces[selection.index], timings)
        return EstimationMessage(
            **common, frame_width=width, frame_height=height, faces=faces, main_face=selection.index,
            analysis=analysis, timings=timings.ms,
            # The decider keeps the best frame for the JWT; frames without a face are never it.
            image=frame.image if analysis is not None else None,
            content_type=frame.content_type if analysis is not None else None,
        )
