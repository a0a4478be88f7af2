"""The interface of liveness, deepfake and image-modification evidence.

No registry package ships a credible passive anti-spoofing or deepfake model
(../shared/reference/models.md), so each kind of score is an ``EvidenceEstimator``: a default
implementation built from measurable cues (services/estimator/evidences/), or an operator's own
ONNX model dropped into the slot (services/estimator/evidences/onnx_slot.py). Each returns an
``EvidenceScore`` naming its source; docs/evidence.md records how each separates real media.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from services.estimator.model import RGBImage
from shared.messages import EvidenceScore, Face


@dataclass(frozen=True, slots=True)
class EvidenceInput:
    image: RGBImage  # the whole frame, RGB
    face: Face  # the main face (box + 5 keypoints)
    encoded: bytes  # the frame exactly as received (JPEG/PNG bytes), for compression forensics
    landmarks: npt.NDArray[np.float32] | None = None  # (468, 3) image pixels, when computed
    # The session's running landmark jitter in IODs (services/estimator/temporal.py); None before
    # three analysed frames in a row.
    temporal_jitter: float | None = None


class EvidenceEstimator(Protocol):
    name: str

    def estimate(self, item: EvidenceInput) -> EvidenceScore: ...
