"""The estimator's timed stages, in the order it works: one name each for the code that times
them (services/estimator/worker.py, analysis.py), the admin's timing page and the estimator
benchmark. The evidence stages are named by their kind (shared/evidence.py)."""

from __future__ import annotations

from enum import StrEnum

from shared.evidence import EvidenceKind


class Stage(StrEnum):
    DECODE = "decode"
    DETECT = "detect"
    QUALITY = "quality"
    LANDMARKS = "landmarks"
    IRIS = "iris"
    DESCRIPTOR = "descriptor"
    FACE_STATE = "face_state"
    LIGHT = "light"
    PARALLAX = "parallax"
    LIVENESS = EvidenceKind.LIVENESS.value
    DEEPFAKE = EvidenceKind.DEEPFAKE.value
    IMAGE_MODIFICATION = EvidenceKind.IMAGE_MODIFICATION.value
