"""The estimator's timed stages, in the order it works: one name each for the code that times
them (services/estimator/worker.py, analysis.py), the admin's timing page and the estimator
benchmark. The evidence stages are named by their kind (services/estimator/evidence.py)."""

from __future__ import annotations

from enum import StrEnum


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
    LIVENESS = "liveness"
    DEEPFAKE = "deepfake"
    IMAGE_MODIFICATION = "image_modification"
