"""The webcam after the light: auto-exposure, auto white balance, sensor noise, sRGB, JPEG.

* Auto-exposure: a gain that drifts (first order, ``ae_tau_ms``) towards the one that brings the
  frame's centre-weighted mean luma back to the source video's own (the ambient-only exposure it
  was filmed at).
* Auto white balance: per-channel gains that drift (``awb_tau_ms``) towards grey-world's answer
  (the whole frame's mean), i.e. towards the source's channel ratios: a coloured screen step is
  partly cancelled, the longer it lasts the more, as real webcams do.
* Both start settled on the page's white screen (what was on it before the challenge) and update
  once per camera frame from that frame's mean, read cheaply from ``Response``.
* Noise: shot noise (Poisson, Gaussian approximation) with a full well that shrinks as the scene
  darkens (the camera raises its gain), plus read noise; then sRGB encoding and 8 bits.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from infra.eval.light.params import LightModel
from infra.eval.light.relight import LUMA

Array = npt.NDArray[np.float64]


ENCODE_STEPS = 1 << 14  # linear light quantised finely enough that no 8-bit code is skipped
_CODES = np.linspace(0.0, 1.0, ENCODE_STEPS)
ENCODE = np.round(255 * np.where(_CODES <= 0.0031308, 12.92 * _CODES,
                                 1.055 * np.power(_CODES, 1 / 2.4) - 0.055)).astype(np.uint8)


def srgb_encode(linear: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.uint8]:
    """IEC 61966-2-1 encoding to 8 bits, through a table (a power per pixel is slow)."""
    index = (np.clip(linear, 0.0, 1.0) * (ENCODE_STEPS - 1) + 0.5).astype(np.intp)
    return np.asarray(ENCODE[index])


def jpeg(image: npt.NDArray[np.uint8], quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class Camera:
    def __init__(self, model: LightModel, reference: Array, scene_lux: float, rng: np.random.Generator) -> None:
        """``reference``: the source's means (2, 3) under ambient light only (``Response`` rows);
        ``scene_lux``: the light on the face, for the noise (more gain in a darker room)."""
        self.model, self.rng = model, rng
        self.target_luma = float(reference[0] @ LUMA)
        self.target_chroma = reference[1] / max(float(reference[1] @ LUMA), 1e-6)
        self.gain, self.balance = 1.0, np.ones(3)
        light = min(1.0, scene_lux / model.noise_reference_lux)
        self.electrons = model.full_well_e * light
        self.read_noise = model.read_noise / math.sqrt(light)

    def _targets(self, means: Array) -> tuple[float, Array]:
        """The gain and channel balance this frame's means (2, 3) call for."""
        chroma = means[1] / max(float(means[1] @ LUMA), 1e-6)
        balance = self.target_chroma / np.maximum(chroma, 1e-6)
        balance /= float(balance @ LUMA)
        # The balance changes the metered luma too: the gain is set on the balanced picture.
        return self.target_luma / max(float((means[0] * balance) @ LUMA), 1e-6), balance

    def settle(self, mean: Array) -> None:
        self.gain, self.balance = self._targets(mean)

    def advance(self, mean: Array, dt_ms: float) -> None:
        """One frame's update from its mean (as seen before this frame's correction)."""
        gain, balance = self._targets(mean)
        self.gain += (gain - self.gain) * (1 - math.exp(-dt_ms / self.model.ae_tau_ms))
        self.balance = self.balance + (balance - self.balance) * (1 - math.exp(-dt_ms / self.model.awb_tau_ms))

    def expose(self, scene: Array) -> npt.NDArray[np.uint8]:
        """The frame the camera delivers for a linear scene (H, W, 3), 8-bit sRGB."""
        signal = np.clip(scene.astype(np.float32) * (self.gain * self.balance).astype(np.float32), 0.0, None)
        sigma = np.sqrt(signal / np.float32(self.electrons) + np.float32(self.read_noise**2))
        noisy = signal + sigma * self.rng.standard_normal(signal.shape, dtype=np.float32)
        return srgb_encode(noisy)
