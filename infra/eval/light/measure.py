"""The estimator's own models and code, in this process: YuNet, the face mesh, the iris model, the
head pose and the light measurement (services/estimator/light.py), as the service runs them on a
frame whose page shows the light. Used twice: on each *source* frame (its geometry drives the
relighting, scene.py: the detector on every frame) and on each *relit* JPEG (what the plugin then
judges: the face followed by the mesh between detections, as the service's worker does).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from infra.eval.light.scene import FaceGeometry
from services.estimator.analysis import worth_landmarks
from services.estimator.decode import decode_rgb
from services.estimator.face_state import inter_ocular
from services.estimator.light import LightMeter
from services.estimator.main import build_detector
from services.estimator.manifest import load_spec
from services.estimator.model import RGBImage
from services.estimator.models.canonical_mesh import CanonicalMesh
from services.estimator.models.face_mesh import FaceMeshModel, FloatArray
from services.estimator.models.iris import IrisModel
from services.estimator.parallax import Reference
from services.estimator.pose import head_pose
from services.estimator.runtime import open_session
from services.estimator.temporal import Track
from services.estimator.tracking import FaceTracker, anchor_for, followed_faces
from services.estimator.worker import descriptor_due
from shared.faces import select_main_face
from shared.messages import ClientInfo, EstimationMessage, Face, FaceAnalysis, ImageType
from shared.settings import Settings
from shared.stored import FaceAnchor


@dataclass(frozen=True)
class Found:
    faces: tuple[Face, ...]
    main: int | None
    landmarks: FloatArray | None  # None: no face, or too small for landmarks (the service's gate)
    geometry: FaceGeometry | None


class Estimator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        options = settings.estimator
        self.detector = build_detector(settings)
        mesh_spec, iris_spec = load_spec("face_mesh"), load_spec("iris")
        self.mesh = FaceMeshModel(open_session(mesh_spec, options.models_dir, options.device,
                                               options.intra_op_threads), mesh_spec)
        self.iris = IrisModel(open_session(iris_spec, options.models_dir, options.device,
                                           options.intra_op_threads), iris_spec)
        self.canonical = CanonicalMesh(load_spec("canonical_face_mesh"), options.models_dir).vertices
        self.meter = LightMeter(self.canonical)
        self.tracker = FaceTracker(self.mesh, options.detect_every)
        self.tracks: dict[str, Reference] = {}  # per session: what the worker keeps in Redis

    def find(self, image: RGBImage) -> Found:
        faces = tuple(self.detector.detect(image))
        height, width = image.shape[:2]
        selection = select_main_face(faces, width, height, self.settings.roi, self.settings.session.multiface_policy)
        if selection.index is None:
            return Found(faces, None, None, None)
        face = faces[selection.index]
        if not worth_landmarks(face, self.settings.thresholds):
            return Found(faces, selection.index, None, None)
        landmarks = self.mesh.predict_one(image, face).landmarks
        eyes = self.iris.predict_one(image, landmarks)
        return Found(faces, selection.index, landmarks, FaceGeometry(landmarks, eyes))

    def follow(self, image: RGBImage, session_id: str, frame_no: int) -> Found:
        """As the service's worker finds a session's face (services/estimator/worker.py): the face
        mesh follows it from the session's previous frame, else the detector runs; each session's
        last landmarks and anchor are kept here as the worker keeps them in Redis."""
        height, width = image.shape[:2]
        previous = self.tracks.get(session_id)
        predicted = None if descriptor_due(self.settings, frame_no) else self.tracker.prediction(
            frame_no, previous, width, height)
        followed = self.tracker.follow([(image, *predicted)])[0] if predicted is not None else None
        faces = followed_faces(followed, width, height, self.settings) if followed is not None else None
        if followed is not None and faces is not None and worth_landmarks(followed.face, self.settings.thresholds):
            landmarks = followed.mesh.landmarks
            self._remember(session_id, frame_no, landmarks, followed.anchor)
            return Found(faces, 0, landmarks, FaceGeometry(landmarks, self.iris.predict_one(image, landmarks)))
        found = self.find(image)
        if found.main is None or found.landmarks is None:
            self.tracks.pop(session_id, None)
        else:
            others = tuple(face for k, face in enumerate(found.faces) if k != found.main)
            self._remember(session_id, frame_no, found.landmarks,
                           anchor_for(found.faces[found.main], others, found.landmarks, frame_no))
        return found

    def _remember(self, session_id: str, frame_no: int, landmarks: FloatArray, anchor: FaceAnchor) -> None:
        points = landmarks[:, :2]
        self.tracks[session_id] = Reference(points, 0.0, 0.0, Track(frame_no, (points,), (), anchor))

    def estimate(self, jpeg: bytes, *, session_id: str, frame_no: int, received_at: float,
                 client: ClientInfo) -> EstimationMessage:
        """The estimation message the plugins would receive for this frame."""
        image = decode_rgb(jpeg)
        found = self.follow(image, session_id, frame_no)
        analysis = None
        if found.main is not None and found.geometry is not None:
            landmarks, face = found.geometry.landmarks, found.faces[found.main]
            analysis = FaceAnalysis(
                head_pose=head_pose(landmarks, self.canonical, mirrored=client.mirrored),
                light=self.meter.measure(image, landmarks, found.geometry.eyes, face.box, inter_ocular(landmarks),
                                         client.mirrored))
        height, width = image.shape[:2]
        return EstimationMessage(session_id=session_id, request_id=f"{session_id}-{frame_no}", frame_no=frame_no,
                                 frame_width=width, frame_height=height, faces=found.faces, main_face=found.main,
                                 analysis=analysis, received_at=received_at, client=client,
                                 image_sha256=hashlib.sha256(jpeg).hexdigest(), content_type=ImageType.JPEG,
                                 # Carried with a main face, as the service does (the recorder keeps it).
                                 image=jpeg if found.main is not None else None)
