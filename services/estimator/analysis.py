"""Everything measured on the main face of each frame of a batch, cheapest first.

Order: image quality (the face crop) -> a cheap size gate (a face too small to judge skips the
rest) -> face mesh (batched; a face the worker followed brings its own, tracking.py) -> iris
(batched) -> head pose -> descriptor (batched, only on the near-frontal frames the FaceMatcher
will compare) -> eyes, mouth, glasses -> parallax against the session's reference -> AGS ->
liveness / deepfake / image-modification evidence. Each stage is timed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import ModuleType

import numpy as np

from services.estimator.ags import ags
from services.estimator.evidence import EvidenceEstimator, EvidenceInput
from services.estimator.face_state import eyes_state, glasses_state, inter_ocular, mouth_state
from services.estimator.light import LightMeter
from services.estimator.model import RGBImage
from services.estimator.models.face_mesh import FaceMesh, FaceMeshModel, FloatArray
from services.estimator.models.iris import IrisModel
from services.estimator.models.sface import SFaceModel
from services.estimator.parallax import Reference, eye_centre_distance, homography_residual
from services.estimator.pose import head_pose
from services.estimator.quality import face_crop, image_quality
from services.estimator.temporal import Track
from services.estimator.timings import Timings, shared_stage
from services.estimator.tracking import anchor_for
from shared.evidence import EvidenceKind
from shared.messages import Face, FaceAnalysis, FrameMessage, HeadPose, ImageQuality
from shared.plugins import face_matcher_compares
from shared.settings import Settings, ThresholdSettings
from shared.stages import Stage
from shared.stored import FaceAnchor
from shared.thresholds import below, quality_failures


@dataclass
class Models:
    mesh: FaceMeshModel
    iris: IrisModel
    canonical: FloatArray
    sface: SFaceModel | None = None  # None: no descriptors at all (tests, benchmarks)
    evidences: Mapping[EvidenceKind, EvidenceEstimator] = field(default_factory=dict)
    light: LightMeter | None = None  # None: no light measurement at all (tests, benchmarks)


@dataclass
class Item:
    frame: FrameMessage
    image: RGBImage
    face: Face
    timings: Timings
    reference: Reference | None = None
    # The session's memory to save after this frame: the reference (replaced when this frame is
    # more frontal) with the updated temporal track.
    new_reference: Reference | None = None
    analysis: FaceAnalysis | None = None
    # The frame's live settings enable the FaceMatcher and the frame is due (estimator.descriptor_every):
    # only then, and on a near-frontal face, is the descriptor (~15 ms) computed.
    descriptor_wanted: bool = False
    # The frame's live settings enable the light challenge: only then is its response measured.
    light_wanted: bool = False
    # The frame's live thresholds, for the cost gates below (None: the analyser's own settings).
    thresholds: ThresholdSettings | None = None
    # The frame's other faces (kept in the anchor of a detected frame: services/estimator/tracking.py).
    others: tuple[Face, ...] = ()
    # A followed frame: the mesh that already found the face, and the anchor it was carried from.
    mesh: FaceMesh | None = None
    anchor: FaceAnchor | None = None


class FaceAnalyser:
    def __init__(self, xp: ModuleType, models: Models, settings: Settings) -> None:
        self.xp, self.models, self.settings = xp, models, settings

    def analyse(self, items: list[Item]) -> list[FaceAnalysis]:
        results: dict[int, dict[str, object]] = {}
        deep: list[int] = []
        for index, item in enumerate(items):
            with item.timings.stage(Stage.QUALITY):
                results[index] = {"image_quality": image_quality(face_crop(item.image, item.face.box), self.xp)}
            if self._worth_landmarks(item):
                deep.append(index)
        if deep:
            self._landmark_stages([items[i] for i in deep], [results[i] for i in deep])
        return [FaceAnalysis.model_validate(results[i]) for i in range(len(items))]

    def _modification_due(self, frame_no: int) -> bool:
        """Frames 1, 1 + N, 1 + 2N, ... of a session (the decider averages the measured ones)."""
        return (frame_no - 1) % self.settings.estimator.image_modification_every == 0

    def _thresholds(self, item: Item) -> ThresholdSettings:
        return item.thresholds or self.settings.thresholds

    def _worth_landmarks(self, item: Item) -> bool:
        return worth_landmarks(item.face, self._thresholds(item))

    def _landmark_stages(self, items: list[Item], results: list[dict[str, object]]) -> None:
        fresh = [item for item in items if item.mesh is None]
        with shared_stage([item.timings for item in fresh], Stage.LANDMARKS):
            found = iter(self.models.mesh.predict([(item.image, item.face) for item in fresh]))
        meshes = [item.mesh if item.mesh is not None else next(found) for item in items]
        with shared_stage([item.timings for item in items], Stage.IRIS):
            irises = self.models.iris.predict([(item.image, mesh.landmarks) for item, mesh in
                                               zip(items, meshes, strict=True)])
        poses = []
        for item, mesh in zip(items, meshes, strict=True):
            with item.timings.stage(Stage.FACE_STATE):
                mirrored = bool(item.frame.client and item.frame.client.mirrored)
                poses.append(head_pose(mesh.landmarks, self.models.canonical, mirrored=mirrored))
        descriptors = self._descriptors(items, poses, [result["image_quality"] for result in results])
        for k, (item, mesh, iris, pose, result) in enumerate(zip(items, meshes, irises, poses, results, strict=True)):
            landmarks = mesh.landmarks
            with item.timings.stage(Stage.FACE_STATE):
                mirrored = bool(item.frame.client and item.frame.client.mirrored)
                iod = inter_ocular(landmarks)
                result.update(head_pose=pose, eyes=eyes_state(iris), mouth=mouth_state(item.image, landmarks),
                              eyeglasses=glasses_state(item.image, landmarks))
            if item.light_wanted and self.models.light is not None:
                with item.timings.stage(Stage.LIGHT):
                    result["light"] = self.models.light.measure(item.image, landmarks, iris, item.face.box, iod,
                                                                mirrored)
            with item.timings.stage(Stage.PARALLAX):  # and the temporal track: both the session's geometry memory
                track = self._advance_track(item, landmarks, iod)
                self._parallax(item, landmarks[:, :2], pose.yaw, pose.pitch, eye_centre_distance(landmarks), track,
                               result)
            quality = result["image_quality"]
            assert isinstance(quality, ImageQuality)  # set for every item in ``analyse``
            overall = ags(quality, pose, iod, item.face.score)
            result["ags"] = overall
            if k in descriptors:
                result["descriptor"] = tuple(round(float(v), 6) for v in descriptors[k])
            if not below(overall, self._thresholds(item).ags):
                # Evidence is aggregated only over frames good enough to enter the decider's window:
                # skip its cost (~25 ms) on the others.
                evidence_input = EvidenceInput(item.image, item.face, item.frame.image, landmarks, track.jitter())
                for kind, estimator in self.models.evidences.items():
                    if kind is EvidenceKind.IMAGE_MODIFICATION and not self._modification_due(item.frame.frame_no):
                        continue
                    with item.timings.stage(kind):
                        result[kind] = estimator.estimate(evidence_input)

    def _descriptors(self, items: list[Item], poses: list[HeadPose], qualities: list[object],
                     ) -> dict[int, FloatArray]:
        """SFace descriptors of the frames the FaceMatcher will compare: wanted (due), near-frontal, and
        through the image-quality gate. A motion-blurred frame of a genuine person measured cosine 0.38
        against a sharp one of the same video (the threshold sits at 0.495); such frames never enter
        the decider's window, so comparing them could only end a genuine session."""
        wanted = [k for k, (item, pose, quality) in enumerate(zip(items, poses, qualities, strict=True))
                  if item.descriptor_wanted and face_matcher_compares(pose)
                  and isinstance(quality, ImageQuality) and not quality_failures(quality, self._thresholds(item))]
        if self.models.sface is None or not wanted:
            return {}
        with shared_stage([items[k].timings for k in wanted], Stage.DESCRIPTOR):
            found = self.models.sface.predict([(items[k].image, items[k].face) for k in wanted])
        return dict(zip(wanted, found, strict=True))

    def _advance_track(self, item: Item, landmarks: FloatArray, iod: float) -> Track:
        frame_no = item.frame.frame_no
        previous = item.reference.track if item.reference is not None else None
        track = (previous or Track(frame_no - 1)).advance(frame_no, landmarks[:, :2], iod)
        if self.settings.estimator.detect_every <= 1:
            return track.anchored(None)
        # A detected frame anchors the face anew; a followed one keeps the anchor it came from.
        return track.anchored(item.anchor or anchor_for(item.face, item.others, landmarks, frame_no))

    def _parallax(self, item: Item, points: FloatArray, yaw: float, pitch: float, iod: float, track: Track,
                  result: dict[str, object]) -> None:
        reference = item.reference
        current = Reference(points.astype(np.float32), yaw, pitch, track)
        if reference is not None:
            result["parallax"] = round(homography_residual(reference.points, current.points, iod), 4)
            result["pose_change_deg"] = round(float(np.hypot(yaw - reference.yaw, pitch - reference.pitch)), 2)
        # Saved after every analysed frame: the reference changes only for a more frontal frame, the
        # track every time.
        if reference is None or current.frontality() < reference.frontality():
            item.new_reference = current
        else:
            item.new_reference = replace(reference, track=track)


def worth_landmarks(face: Face, thresholds: ThresholdSettings) -> bool:
    """The cost gate: a face under half the minimum width is too small to judge, so the mesh and
    everything after it are skipped."""
    return thresholds.face_width is None or face.box.width >= thresholds.face_width / 2
