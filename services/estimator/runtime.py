"""onnxruntime sessions on the configured device, verified against the manifest."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

from services.estimator.manifest import ModelSpec
from shared.errors import ConfigError

log = logging.getLogger(__name__)


def providers_for(device: str) -> list[str]:
    """CUDA when asked (or on ``auto`` when it is really usable), else the CPU provider."""
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    # onnxruntime-gpu lists CUDA even without a GPU and silently falls back: probe with CuPy.
    usable = "CUDAExecutionProvider" in available and _cuda_device_present()
    if device == "gpu" and not usable:
        raise ConfigError("VIGIL_ESTIMATOR__DEVICE=gpu but no usable CUDA device/provider")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if usable else ["CPUExecutionProvider"]


def _cuda_device_present() -> bool:
    try:
        import cupy
    except ImportError:
        return False
    return bool(cupy.cuda.is_available())


def open_session(spec: ModelSpec, models_dir: Path, device: str, threads: int) -> ort.InferenceSession:
    path = spec.verify_file(models_dir)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the folded graphs trigger harmless "unused initializer" notes
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=providers_for(device))
    spec.verify_graph(
        [(i.name, i.shape) for i in session.get_inputs()], [(o.name, o.shape) for o in session.get_outputs()]
    )
    log.info("%s loaded on %s", path.name, session.get_providers()[0])
    return session
