"""Composition root of the estimator: settings, models (verified), the consumer loop."""

from __future__ import annotations

import anyio

from services.estimator.analysis import FaceAnalyser
from services.estimator.arrays import array_module
from services.estimator.manifest import load_spec
from services.estimator.models.yunet import YuNetDetector
from services.estimator.runtime import open_session
from services.estimator.worker import EstimatorWorker
from shared.bus import connect
from shared.consumer import Consumer
from shared.keys import Group, Keys
from shared.logs import setup_logging
from shared.messages import FrameMessage
from shared.settings import Settings, load_settings


def build_detector(settings: Settings) -> YuNetDetector:
    spec = load_spec("yunet")
    options = settings.estimator
    session = open_session(spec, options.models_dir, options.device, options.intra_op_threads)
    detector = YuNetDetector(session, spec, score_threshold=settings.thresholds.detection)
    detector.warm_up()
    return detector


async def run(settings: Settings) -> None:
    keys = Keys(settings.redis.key_prefix)
    detector = build_detector(settings)
    redis = connect(settings)
    analyser = FaceAnalyser(array_module(settings.estimator.device))
    worker = EstimatorWorker(redis, keys, settings, detector, analyser)
    consumer = Consumer(
        redis, keys, settings.bus, stream=keys.frames, group=Group.ESTIMATOR, kind=FrameMessage,
        handler=worker.handle, batch_size=settings.estimator.batch_size,
    )
    try:
        await consumer.run()
    finally:
        await redis.aclose()


def main() -> None:
    setup_logging()
    anyio.run(run, load_settings())


if __name__ == "__main__":
    main()
