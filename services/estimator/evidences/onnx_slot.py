"""An operator's own ONNX model as liveness, deepfake or image-modification evidence.

No registry package ships a credible model for these (../shared/reference/models.md), so the
service ships measured heuristics and this slot, where an operator drops in a model they trust
(for instance a MiniFASNet export) without code changes. Vigil does not validate the model: its
score is reported with ``source = "onnx:<file name>:<first 12 hex of its SHA-256>"``.

The contract the model must meet (checked when it loads; ``ModelError`` otherwise):

* File: ``path``; when ``sha256`` is given the file's digest must equal it.
* Exactly one graph input, named ``input_name``, float32, shape ``[N, 3, H, W]`` (NCHW) with
  ``N`` 1 or dynamic and ``(H, W)`` equal to ``input_size`` (or dynamic).
* An output named ``output_name`` of shape ``[N, K]`` or ``[N]``; one dry run on a blank input
  must give at least ``genuine_index + 1`` values per item.
* Preprocessing done here: a rectangle centred on the face box, ``crop_scale`` times its width
  and height (parts outside the frame are black), resized to ``(W, H)`` bilinearly, channels in
  ``channel_order`` (``RGB`` or ``BGR``), each value ``(pixel * scale - mean[c]) / std[c]``.
* Output: ``output_kind="logits"`` applies a softmax over the K values (a sigmoid when K = 1);
  ``"probabilities"`` takes them as they are. The score is the value at ``genuine_index`` (higher
  = more genuine), clipped to [0, 1]; every class's value is reported in ``cues`` as
  ``class_<i>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidArgument, InvalidGraph, InvalidProtobuf
from PIL import Image

from services.estimator.evidence import EvidenceInput
from services.estimator.model import RGBImage
from services.estimator.runtime import providers_for
from shared.errors import ModelError
from shared.messages import EvidenceScore, Rect

FloatArray = npt.NDArray[np.float32]


class OnnxEvidence:
    def __init__(self, *, name: str, path: Path, input_name: str, input_size: tuple[int, int], output_name: str,
                 genuine_index: int, sha256: str | None = None, channel_order: Literal["RGB", "BGR"] = "RGB",
                 scale: float = 1 / 255, mean: Sequence[float] = (0.0, 0.0, 0.0),
                 std: Sequence[float] = (1.0, 1.0, 1.0), crop_scale: float = 1.0,
                 output_kind: Literal["logits", "probabilities"] = "logits", device: str = "cpu",
                 threads: int = 0) -> None:
        if not path.is_file():
            raise ModelError(f"evidence model {path} is missing")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if sha256 is not None and digest != sha256.lower():
            raise ModelError(f"{path}: SHA-256 {digest} does not match the configured {sha256}")
        if len(mean) != 3 or len(std) != 3 or min(abs(s) for s in std) == 0:
            raise ModelError(f"{path}: mean and std need 3 values each, std non-zero")
        self.name, self.input_name, self.output_name = name, input_name, output_name
        self.height, self.width = input_size
        self.genuine_index, self.channel_order, self.output_kind = genuine_index, channel_order, output_kind
        self.scale, self.crop_scale = scale, crop_scale
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1)
        self.source = f"onnx:{path.name}:{digest[:12]}"
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers_for(device))
        except (Fail, InvalidGraph, InvalidProtobuf) as exc:
            raise ModelError(f"{path} does not load in onnxruntime: {exc}") from None
        self._check_graph(path)

    def estimate(self, item: EvidenceInput) -> EvidenceScore:
        values = self.run(self.prepare(item.image, item.face.box))
        score = float(np.clip(values[min(self.genuine_index, values.size - 1)], 0.0, 1.0))
        cues = {f"class_{i}": round(float(np.clip(v, 0.0, 1.0)), 4) for i, v in enumerate(values)}
        return EvidenceScore(score=round(score, 4), source=self.source, cues=cues)

    def prepare(self, image: RGBImage, box: Rect) -> FloatArray:
        """The model's input tensor [1, 3, H, W] for the face in ``box``."""
        cx, cy = box.x + box.width / 2, box.y + box.height / 2
        half_w, half_h = box.width * self.crop_scale / 2, box.height * self.crop_scale / 2
        region = (round(cx - half_w), round(cy - half_h), round(cx + half_w), round(cy + half_h))
        crop = Image.fromarray(image).crop(region).resize((self.width, self.height), Image.Resampling.BILINEAR)
        pixels = np.asarray(crop, dtype=np.float32)
        if self.channel_order == "BGR":
            pixels = pixels[:, :, ::-1]
        tensor: FloatArray = ((pixels.transpose(2, 0, 1)[None] * self.scale - self.mean) / self.std).astype(np.float32)
        return tensor

    def run(self, tensor: FloatArray) -> FloatArray:
        """The per-class values of one item, after the softmax/sigmoid the contract names."""
        raw = np.asarray(self.session.run([self.output_name], {self.input_name: tensor})[0], dtype=np.float64)
        values = raw.reshape(raw.shape[0], -1)[0] if raw.ndim else raw.reshape(1)
        if self.output_kind == "logits":
            if values.size == 1:
                values = 1 / (1 + np.exp(-values))
            else:
                shifted = np.exp(values - values.max())
                values = shifted / shifted.sum()
        return values.astype(np.float32)

    def _check_graph(self, path: Path) -> None:
        inputs = self.session.get_inputs()
        if [i.name for i in inputs] != [self.input_name]:
            raise ModelError(f"{path}: inputs {[i.name for i in inputs]}, expected exactly [{self.input_name!r}]")
        shape = list(inputs[0].shape)
        wanted: list[object] = [1, 3, self.height, self.width]
        fixed = len(shape) == 4 and all(not isinstance(a, int) or a == b for a, b in zip(shape, wanted, strict=True))
        if not fixed:
            raise ModelError(f"{path}: input {self.input_name!r} has shape {shape}, expected {wanted} (NCHW)")
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        if self.output_name not in outputs:
            raise ModelError(f"{path}: no output {self.output_name!r} (outputs: {sorted(outputs)})")
        # A dry run settles dynamic shapes: the output must hold the genuine class.
        try:
            values = self.run(np.zeros((1, 3, self.height, self.width), dtype=np.float32))
        except (Fail, InvalidArgument) as exc:
            raise ModelError(f"{path}: a dry run on a blank input failed: {exc}") from None
        if values.size <= self.genuine_index:
            raise ModelError(f"{path}: output {self.output_name!r} has {values.size} values per item, "
                             f"genuine_index is {self.genuine_index}")
