"""Model manifest: each model's file, SHA-256, and input/output names and shapes.

Checked when a model loads (file digest, graph inputs/outputs) and again after warm-up (the
shapes the model really produced), so a swapped or corrupted file fails loudly at start-up.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.errors import ModelError

MANIFEST = Path(__file__).parent / "models" / "manifest.json"


class TensorSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    shape: tuple[int | str, ...]


class ModelSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    # "onnx": a model for onnxruntime; "array": a NumPy array (e.g. the canonical face mesh).
    kind: Literal["onnx", "array"] = "onnx"
    file: str
    sha256: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def path(self, models_dir: Path) -> Path:
        return models_dir / self.file

    def verify_file(self, models_dir: Path) -> Path:
        path = self.path(models_dir)
        if not path.is_file():
            raise ModelError(f"{path} is missing: run `make models` (python -m infra.prepare_models)")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise ModelError(f"{path}: SHA-256 {digest} does not match the manifest ({self.sha256})")
        return path

    def verify_graph(self, inputs: Sequence[tuple[str, Sequence[object]]],
                     outputs: Sequence[tuple[str, Sequence[object]]]) -> None:
        _compare("inputs", self.inputs, inputs)
        _compare("outputs", self.outputs, outputs)

    def verify_results(self, results: Sequence[tuple[str, Sequence[int | str]]]) -> None:
        _compare("warm-up outputs", self.outputs, results)


def load_spec(name: str, manifest: Path = MANIFEST) -> ModelSpec:
    entries = json.loads(manifest.read_text())["models"]
    if name not in entries:
        raise ModelError(f"model {name!r} is not in {manifest}")
    return ModelSpec.model_validate(entries[name])


def _compare(what: str, expected: Sequence[TensorSpec], actual: Sequence[tuple[str, Sequence[object]]]) -> None:
    """Names and shapes must match; a named (symbolic) dimension in the manifest matches the same
    name in a graph, or any size in a real output."""
    want = [(spec.name, tuple(spec.shape)) for spec in expected]
    got = [(name, tuple(shape)) for name, shape in actual]
    if len(want) != len(got) or not all(
        w_name == g_name and _shapes_match(w_shape, g_shape)
        for (w_name, w_shape), (g_name, g_shape) in zip(want, got, strict=True)
    ):
        raise ModelError(f"model {what} {got} do not match the manifest {want}")


def _shapes_match(expected: tuple[object, ...], actual: tuple[object, ...]) -> bool:
    pairs = zip(expected, actual, strict=False)
    return len(expected) == len(actual) and all(
        want == got or (isinstance(want, str) and isinstance(got, int)) for want, got in pairs
    )
