"""Everything measured on the main face of a frame, cheapest first."""

from __future__ import annotations

from types import ModuleType

from services.estimator.model import RGBImage
from services.estimator.quality import face_crop, image_quality
from services.estimator.timings import Timings
from shared.messages import Face, FaceAnalysis


class FaceAnalyser:
    def __init__(self, xp: ModuleType) -> None:
        self.xp = xp

    def analyse(self, image: RGBImage, face: Face, timings: Timings) -> FaceAnalysis:
        with timings.stage("quality"):
            quality = image_quality(face_crop(image, face.box), self.xp)
        return FaceAnalysis(image_quality=quality)
