"""Turns a batch of frames into estimations: decode, find the main face (followed by the face
mesh from the session's previous frame, or detected), analyse the main faces, publish.

The whole batch goes through each model at once where the model takes a batch (face mesh,
iris, descriptor); detection runs per frame (YuNet takes one image a call).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio
from redis.asyncio import Redis

from services.estimator.analysis import FaceAnalyser, Item
from services.estimator.decode import decode_rgb
from services.estimator.model import FaceDetector, RGBImage
from services.estimator.parallax import Reference, ReferenceStore
from services.estimator.timings import Timings, shared_stage
from services.estimator.tracking import FaceTracker, Followed, followed_faces
from shared.consumer import Delivery
from shared.errors import ImageError
from shared.faces import select_main_face
from shared.keys import Keys
from shared.live_settings import LiveSettings
from shared.messages import EstimationMessage, Face, FrameMessage, LightSupport
from shared.metrics import observe_stages
from shared.retention import StreamRetention
from shared.settings import Settings
from shared.stages import Stage
from shared.stored import FaceAnchor

log = logging.getLogger(__name__)


class EstimatorWorker:
    def __init__(self, redis: Redis, keys: Keys, live: LiveSettings, detector: FaceDetector,
                 analyser: FaceAnalyser) -> None:
        # The process's own settings (bus, models, cost gates); the frame's tag picks the live
        # settings for what decides the main face (roi, multiface_policy).
        self.redis, self.keys, self.live, self.settings = redis, keys, live, live.base
        self.detector, self.analyser = detector, analyser
        self.tracker = FaceTracker(analyser.models.mesh, self.settings.estimator.detect_every)
        self.references = ReferenceStore(redis, keys, self.settings.session.ttl_s)
        self.retention = StreamRetention(self.settings.bus)

    async def handle(self, batch: Sequence[Delivery[FrameMessage]]) -> None:
        frames = [delivery.message for delivery in batch]
        references = await self.references.load(sorted({f.session_id for f in frames}))
        tagged = {f.config_tag: await self.live.for_tag(f.config_tag) for f in frames}
        # CPU-bound model work runs off the event loop, so the loop keeps serving Redis.
        estimations, updated = await anyio.to_thread.run_sync(self.analyse_all, frames, references, tagged)
        for estimation in estimations:
            observe_stages(estimation.timings)
        await self.references.save(updated)
        # Estimations carry the frame's image: trimmed by count, size and age like the frames.
        await self.retention.publish(self.redis, [(self.keys.estimations, e, len(e.image or b"")) for e in estimations])

    def analyse_all(self, frames: list[FrameMessage], references: dict[str, Reference],
                    tagged: Mapping[str | None, Settings] | None = None,
                    ) -> tuple[list[EstimationMessage], dict[str, Reference]]:
        """``tagged``: live settings per frame tag (the process's own settings where missing)."""
        tagged = tagged or {}
        detected = [self._decode(frame, tagged.get(frame.config_tag, self.settings)) for frame in frames]
        self._follow([d for d in detected if d.image is not None], references)
        for d in detected:
            if d.image is not None and not d.followed:
                self._detect(d, references)
        items = [d.item for d in detected if d.item is not None]
        for item, analysis in zip(items, self.analyser.analyse(items) if items else [], strict=True):
            item.analysis = analysis
        updated = {i.frame.session_id: i.new_reference for i in items if i.new_reference is not None}
        return [d.estimation() for d in detected], updated

    def _decode(self, frame: FrameMessage, settings: Settings) -> Detected:
        timings = Timings()
        try:
            with timings.stage(Stage.DECODE):
                image = decode_rgb(frame.image, settings.ingress.max_image_pixels)
        except ImageError as exc:
            log.info("session %s frame %d: %s", frame.session_id, frame.frame_no, exc)
            return Detected(frame, timings, settings, error=exc, width=frame.width, height=frame.height)
        height, width = image.shape[:2]
        return Detected(frame, timings, settings, image=image, width=width, height=height)

    def _follow(self, decoded: list[Detected], references: dict[str, Reference]) -> None:
        """The frames whose face the previous frame's mesh can place: one mesh batch, no detector."""
        due: list[tuple[Detected, tuple[RGBImage, FaceAnchor, Face]]] = []
        for d in decoded:
            # The descriptor's alignment takes the detector's keypoints (services/estimator/models/sface.py).
            predicted = None if d.descriptor_wanted else self.tracker.prediction(
                d.frame.frame_no, references.get(d.frame.session_id), d.width, d.height)
            if predicted is not None and d.image is not None:
                due.append((d, (d.image, *predicted)))
        if not due:
            return
        with shared_stage([d.timings for d, _ in due], Stage.LANDMARKS):
            followed = self.tracker.follow([item for _, item in due])
        for (d, _), found in zip(due, followed, strict=True):
            # Lost, or another face is the main one: the detector runs on this frame.
            faces = followed_faces(found, d.width, d.height, d.settings) if found is not None else None
            if faces is not None:
                self._select(d, faces, references, found)

    def _detect(self, d: Detected, references: dict[str, Reference]) -> None:
        assert d.image is not None
        with d.timings.stage(Stage.DETECT):
            faces = tuple(self.detector.detect(d.image))
        self._select(d, faces, references, None)

    def _select(self, d: Detected, faces: tuple[Face, ...], references: dict[str, Reference],
                followed: Followed | None) -> None:
        frame, settings = d.frame, d.settings
        selection = select_main_face(faces, d.width, d.height, settings.roi, settings.session.multiface_policy)
        assert d.image is not None
        d.faces, d.main, d.followed = faces, selection.index, followed is not None
        if selection.index is None:
            return
        # A session's frames arrive one at a time (LPProto), so one reference per batch is safe.
        d.item = Item(frame, d.image, faces[selection.index], d.timings, references.get(frame.session_id),
                      descriptor_wanted=d.descriptor_wanted,
                      light_wanted=settings.light_challenge.is_enabled and frame.client is not None
                      and frame.client.light is LightSupport.SHOWN,
                      thresholds=settings.thresholds,
                      others=tuple(f for i, f in enumerate(faces) if i != selection.index),
                      mesh=followed.mesh if followed is not None else None,
                      anchor=followed.anchor if followed is not None else None)


@dataclass
class Detected:
    frame: FrameMessage
    timings: Timings
    settings: Settings  # the frame's live settings
    width: int
    height: int
    image: RGBImage | None = None  # None: the frame did not decode
    error: ImageError | None = None
    faces: tuple[Face, ...] = ()
    main: int | None = None
    item: Item | None = None
    followed: bool = False  # the face came from the previous frame's mesh, not the detector

    @property
    def descriptor_wanted(self) -> bool:
        return descriptor_due(self.settings, self.frame.frame_no)

    def estimation(self) -> EstimationMessage:
        frame = self.frame
        analysis = self.item.analysis if self.item is not None else None
        return EstimationMessage(
            session_id=frame.session_id, request_id=frame.request_id, frame_no=frame.frame_no,
            received_at=frame.received_at, client=frame.client, image_sha256=hashlib.sha256(frame.image).hexdigest(),
            timings=self.timings.ms, frame_width=self.width, frame_height=self.height,
            error=self.error.code if self.error else None, faces=self.faces, main_face=self.main, analysis=analysis,
            config_tag=frame.config_tag,
            # The decider keeps the best frame for the JWT; frames without an analysed face are never it.
            image=frame.image if analysis is not None else None,
            content_type=frame.content_type if analysis is not None else None,
        )


def descriptor_due(settings: Settings, frame_no: int) -> bool:
    """The FaceMatcher is on and frame ``frame_no`` is due for a descriptor (estimator.descriptor_every)."""
    return settings.session.previous_face_similarity is not None and frame_no % settings.estimator.descriptor_every == 0
