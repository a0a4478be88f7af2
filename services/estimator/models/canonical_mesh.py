"""MediaPipe's canonical 3-D face mesh: the 468 vertices the face mesh's landmarks correspond to.

Extracted by infra/prepare_models.py from ``geometry_pipeline_metadata_landmarks.binarypb``
inside the npm package ``@mediapipe/face_mesh`` (Apache-2.0). Units are centimetres of a
mean adult face, x to the image right of a frontal face (the subject's left), y up, z towards the
camera, origin inside the head behind the nose; vertex i matches face-mesh landmark i, so a
similarity or PnP fit of the landmarks onto it gives the head pose.

No onnxruntime session here: the manifest entry has ``kind: "array"`` and a single output whose
shape is the array's; the file's digest is checked like a model's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from services.estimator.manifest import ModelSpec
from services.estimator.models.face_mesh import FloatArray
from shared.errors import ModelError


class CanonicalMesh:
    name = "canonical_face_mesh"

    def __init__(self, spec: ModelSpec, models_dir: Path) -> None:
        path = spec.verify_file(models_dir)
        # allow_pickle=False: the file holds plain floats, never objects to unpickle.
        vertices = np.load(path, allow_pickle=False)
        expected = tuple(spec.outputs[0].shape)
        if vertices.shape != expected or vertices.dtype != np.float32:
            raise ModelError(f"{path}: array {vertices.dtype}{vertices.shape} is not float32{expected}")
        vertices.setflags(write=False)  # shared by every caller: nobody may move the reference
        self._vertices: FloatArray = vertices

    @property
    def vertices(self) -> FloatArray:
        """(468, 3) float32, read-only."""
        return self._vertices
