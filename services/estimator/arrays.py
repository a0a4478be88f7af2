"""The one array-module switch: CuPy when a GPU is really usable, NumPy otherwise.

"Usable" is proven by an allocation, not by a provider list: ``import cupy`` works without a
GPU, and onnxruntime-gpu lists CUDA even where it silently falls back to the CPU.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.errors import ConfigError

log = logging.getLogger(__name__)


def gpu_usable() -> bool:
    try:
        import cupy
    except ImportError:
        return False
    try:
        cupy.zeros(1, dtype=cupy.float32).sum().item()
    except Exception as exc:  # noqa: BLE001 - CUDA raises many unrelated types when no device is there
        log.info("CuPy present but no usable GPU: %s", exc)
        return False
    return True


def array_module(device: str) -> ModuleType:
    """``cupy`` or ``numpy`` for the configured device (auto | cpu | gpu)."""
    if device == "cpu":
        return np
    if gpu_usable():
        import cupy

        return cupy  # type: ignore[no-any-return]
    if device == "gpu":
        raise ConfigError("VIGIL_ESTIMATOR__DEVICE=gpu but no usable GPU (CuPy allocation failed)")
    return np


def to_host(array: Any) -> npt.NDArray[Any]:
    """A NumPy array from either module's array."""
    getter = getattr(array, "get", None)
    return np.asarray(getter() if callable(getter) else array)
