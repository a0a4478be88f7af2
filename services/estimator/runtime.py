"""onnxruntime sessions on the configured device, verified against the manifest."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

from services.estimator.arrays import gpu_usable
from services.estimator.manifest import ModelSpec
from shared.errors import ConfigError

log = logging.getLogger(__name__)


def providers_for(device: str) -> list[str]:
    """CUDA when asked (or on ``auto`` when it is really usable), else the CPU provider."""
    available = ort.get_available_providers()
    if device == "cpu":
        return ["CPUExecutionProvider"]
    # onnxruntime-gpu lists CUDA even without a GPU and silently falls back: probe with CuPy.
    usable = "CUDAExecutionProvider" in available and gpu_usable()
    if device == "gpu" and not usable:
        raise ConfigError("VIGIL_ESTIMATOR__DEVICE=gpu but no usable CUDA device/provider")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if usable else ["CPUExecutionProvider"]


def open_session(spec: ModelSpec, models_dir: Path, device: str, threads: int) -> ort.InferenceSession:
    path = spec.verify_file(models_dir)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # the folded graphs trigger harmless "unused initializer" notes
    if threads:
        options.intra_op_num_threads = threads
    # Spinning threads burn the core another process of the stack needs.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    wanted = providers_for(device)
    session = ort.InferenceSession(str(path), options, providers=wanted)
    if session.get_providers()[0] != wanted[0]:
        # onnxruntime falls back silently (e.g. a CUDA library missing): say so, fail if GPU was required.
        message = f"{path.name}: asked for {wanted[0]}, got {session.get_providers()[0]}"
        if device == "gpu":
            raise ConfigError(message)
        log.warning(message)
    spec.verify_graph(
        [(i.name, i.shape) for i in session.get_inputs()], [(o.name, o.shape) for o in session.get_outputs()]
    )
    log.info("%s loaded on %s", path.name, session.get_providers()[0])
    return session
