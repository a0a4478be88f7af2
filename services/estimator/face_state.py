"""Eyes, mouth and glasses from the face mesh and iris landmarks (measurements, not classifiers:
no registry package ships eye-state, glasses or occlusion models; figures in MODELS.md).

* eyes: eyelid gap at mid-eye over the corner-to-corner width, from the iris model's eyelid
  contour. Open eyes in real webcam videos measured 0.17-0.44 (photos 0.23-0.45), closed eyes in
  a blink 0.06-0.07, Yale "sleepy" (half to fully closed) 0.03-0.21: ``EYE_OPEN_AT = 0.15`` keeps
  genuine webcam users open and still sees a blink.
* mouth opened: inner-lip gap over inner-lip width (mesh 13/14 over 78/308); closed 0.004-0.07,
  surprised 0.24-0.42; score ``(r - 0.04) / 0.36`` (0.5 at r = 0.22, so a toothy smile stays
  "closed").
* smile: mouth width over inter-ocular distance (neutral 0.55-0.63, smiling 0.65-0.78) and how
  far the corners rise above the lip centre (neutral -0.02-0.024, smiling 0.06-0.075), averaged.
* occluded: chroma distance between the mouth region and the cheeks, 0.5 at a distance of 16.
  Weak and tuned against false rejections: 3 of 15 masked faces score above 0.5, none of the
  unmasked portraits (lips and beards differ from cheeks too).
* glasses: vertical edge energy on the nose bridge (a frame crosses it) over cheek brightness:
  eyeglasses 10 of 11 stock portraits, but also turned or side-lit faces; "sunglasses" when the
  eye regions are also much darker than the cheeks (caught 2 of 10; mirrored lenses read as
  eyeglasses). Treat glasses as a prompt, not a verdict.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from services.estimator.model import RGBImage
from services.estimator.models.face_mesh import FloatArray
from services.estimator.models.iris import Eye
from services.estimator.models.iris import Eyes as IrisEyes
from shared.messages import Eyes, EyeState, Glasses, Mouth

EYE_OPEN_AT = 0.15
RIGHT_EYE, LEFT_EYE = 33, 263  # outer eye corners (the person's right and left)
BRIDGE = [168, 6, 197, 122, 351]
CHEEKS = [50, 101, 118, 117, 280, 330, 347, 346]
EYE_REGIONS = ([33, 160, 158, 133, 153, 144], [362, 385, 387, 263, 373, 380])
MOUTH = [61, 291, 17, 0]
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def openness(eye: Eye) -> float:
    lids = eye.eyelids[:, :2]
    width = float(np.linalg.norm(lids[0] - lids[8]))
    return float(np.linalg.norm(lids[12] - lids[4])) / width if width > 0 else 0.0


def eyes_state(eyes: IrisEyes) -> Eyes:
    right, left = openness(eyes.right), openness(eyes.left)
    return Eyes(
        right=EyeState.OPEN if right >= EYE_OPEN_AT else EyeState.CLOSED,
        left=EyeState.OPEN if left >= EYE_OPEN_AT else EyeState.CLOSED,
        right_openness=round(right, 4), left_openness=round(left, 4),
    )


def inter_ocular(landmarks: FloatArray) -> float:
    return float(np.linalg.norm(landmarks[RIGHT_EYE, :2] - landmarks[LEFT_EYE, :2]))


def mouth_state(image: RGBImage, landmarks: FloatArray) -> Mouth:
    points = landmarks[:, :2]
    iod = max(inter_ocular(landmarks), 1e-6)
    inner_width = max(float(np.linalg.norm(points[78] - points[308])), 1e-6)
    gap = float(np.linalg.norm(points[13] - points[14])) / inner_width
    width = float(np.linalg.norm(points[61] - points[291])) / iod
    centre, corners = (points[13] + points[14]) / 2, (points[61] + points[291]) / 2
    lift = float(centre[1] - corners[1]) / iod
    mouth = _region(image, points[MOUTH]).reshape(-1, 3).mean(axis=0)
    cheeks = _region(image, points[CHEEKS]).reshape(-1, 3).mean(axis=0)
    chroma = float(np.linalg.norm(mouth / (mouth.sum() + 1e-6) - cheeks / (cheeks.sum() + 1e-6))) * 100
    return Mouth(
        opened=_unit((gap - 0.04) / 0.36),
        smile=_unit(((width - 0.6) / 0.12 + (lift - 0.02) / 0.05) / 2),
        occluded=_unit((chroma - 8) / 16),
    )


def glasses_state(image: RGBImage, landmarks: FloatArray) -> Glasses:
    points = landmarks[:, :2]

    def grey(indices: list[int]) -> npt.NDArray[np.float32]:
        # Luminance of the few regions read, not of the whole frame (1 ms a frame at 640x480).
        region: npt.NDArray[np.float32] = _region(image, points[indices]).astype(np.float32) @ LUMA
        return region

    cheek = max(float(grey(CHEEKS).mean()), 1.0)
    bridge = grey(BRIDGE)
    edges = float(np.abs(np.diff(bridge, axis=0)).mean()) if bridge.shape[0] > 1 else 0.0
    if edges / cheek * 100 < 5.5:
        return Glasses.NONE
    eyes = np.concatenate([grey(idx).ravel() for idx in EYE_REGIONS])
    return Glasses.SUNGLASSES if float(eyes.mean()) / cheek < 0.25 else Glasses.EYEGLASSES


def _region(image: npt.NDArray[Any], points: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The bounding box of ``points`` in ``image`` (at least one pixel)."""
    height, width = image.shape[:2]
    x0, y0 = np.clip(points.min(axis=0).astype(int), 0, [width - 1, height - 1])
    x1, y1 = np.clip(points.max(axis=0).astype(int), 0, [width - 1, height - 1])
    return image[y0:y1 + 1, x0:x1 + 1]


def _unit(value: float) -> float:
    return round(min(1.0, max(0.0, value)), 4)
