"""Composition root of the estimator: settings, models (verified and warmed up), the consumer loop."""

from __future__ import annotations

import time

import anyio
import onnxruntime as ort

from services.estimator.analysis import FaceAnalyser, Models
from services.estimator.arrays import array_module
from services.estimator.evidence import EvidenceEstimator
from services.estimator.evidences.deepfake import DeepfakeEvidence
from services.estimator.evidences.modification import ImageModificationEvidence
from services.estimator.evidences.onnx_slot import OnnxEvidence
from services.estimator.evidences.recapture import RecaptureEvidence
from services.estimator.light import LightMeter
from services.estimator.manifest import ModelSpec, load_spec
from services.estimator.models.canonical_mesh import CanonicalMesh
from services.estimator.models.face_mesh import FaceMeshModel
from services.estimator.models.iris import IrisModel
from services.estimator.models.sface import SFaceModel
from services.estimator.models.yunet import YuNetDetector
from services.estimator.runtime import open_session
from services.estimator.worker import EstimatorWorker
from shared.bus import connect
from shared.consumer import Consumer
from shared.evidence import EvidenceKind
from shared.health import HEALTH
from shared.keys import Group, Keys
from shared.messages import FrameMessage
from shared.metrics import MODEL_LOAD_SECONDS
from shared.service import live_settings, run_consumers, serve
from shared.settings import Settings


def build_detector(settings: Settings) -> YuNetDetector:
    spec = load_spec("yunet")
    options = settings.estimator
    started = time.perf_counter()
    session = open_session(spec, options.models_dir, options.device, options.intra_op_threads)
    MODEL_LOAD_SECONDS.labels("yunet").set(time.perf_counter() - started)
    detector = YuNetDetector(session, spec, score_threshold=settings.thresholds.detection)
    detector.warm_up()
    return detector


def build_models(settings: Settings) -> Models:
    options = settings.estimator

    def session(name: str) -> tuple[ort.InferenceSession, ModelSpec]:
        spec = load_spec(name)
        started = time.perf_counter()
        loaded = open_session(spec, options.models_dir, options.device, options.intra_op_threads)
        MODEL_LOAD_SECONDS.labels(name).set(time.perf_counter() - started)
        return loaded, spec

    mesh = FaceMeshModel(*session("face_mesh"))
    iris = IrisModel(*session("iris"))
    # Loaded even when the environment turns the FaceMatcher off, since the live settings may turn it on;
    # the descriptor (~18 ms a face) is computed only for frames whose settings enable the FaceMatcher.
    sface = SFaceModel(*session("sface"))
    for model in (mesh, iris, sface):
        if model is not None:
            model.warm_up()
    canonical = CanonicalMesh(load_spec("canonical_face_mesh"), options.models_dir).vertices
    # Built whatever the environment says: the live settings may switch the light challenge on.
    return Models(mesh=mesh, iris=iris, canonical=canonical, sface=sface, evidences=build_evidences(settings),
                  light=LightMeter(canonical))


def build_evidences(settings: Settings) -> dict[EvidenceKind, EvidenceEstimator]:
    """Default evidence per kind (documented heuristics, docs/evidence.md), replaced by an operator's
    ONNX model where one is configured."""
    options = settings.estimator
    evidences: dict[EvidenceKind, EvidenceEstimator] = {
        EvidenceKind.LIVENESS: RecaptureEvidence(),
        EvidenceKind.DEEPFAKE: DeepfakeEvidence(),
        EvidenceKind.IMAGE_MODIFICATION: ImageModificationEvidence(
            ela_quality=options.ela_quality, ghost_min_quality=options.ghost_min_quality,
            ghost_step=options.ghost_step),
    }
    for kind, model in ((EvidenceKind.LIVENESS, options.liveness_model),
                        (EvidenceKind.DEEPFAKE, options.deepfake_model),
                        (EvidenceKind.IMAGE_MODIFICATION, options.image_modification_model)):
        if model is not None:
            evidences[kind] = OnnxEvidence(name=kind, **model.model_dump(), device=options.device,
                                           threads=options.intra_op_threads)
    return evidences


def build_analyser(settings: Settings) -> FaceAnalyser:
    return FaceAnalyser(array_module(settings.estimator.device), build_models(settings), settings)


async def run(settings: Settings) -> None:
    keys = Keys(settings.redis.key_prefix)
    with HEALTH.loading_("models"):
        # Off the event loop, so the endpoint answers "not ready: loading models" meanwhile.
        detector = await anyio.to_thread.run_sync(build_detector, settings)
        analyser = await anyio.to_thread.run_sync(build_analyser, settings)
    redis = connect(settings)
    live = await live_settings(redis, keys, settings)
    worker = EstimatorWorker(redis, keys, live, detector, analyser)
    consumer = Consumer(
        redis, keys, settings.bus, stream=keys.frames, group=Group.ESTIMATOR, kind=FrameMessage,
        handler=worker.handle, batch_size=settings.estimator.batch_size,
    )
    await run_consumers(redis, [consumer], live)


def main() -> None:
    serve(run, "estimator")


if __name__ == "__main__":
    main()
