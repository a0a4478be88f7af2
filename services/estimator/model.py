"""The face detector interface; implementations live in services/estimator/models/."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from shared.messages import Face

RGBImage = npt.NDArray[np.uint8]  # H x W x 3, RGB


class FaceDetector(Protocol):
    name: str

    def detect(self, image: RGBImage) -> list[Face]:
        """Every face above the detector's score threshold, best first, in image pixels."""
        ...
