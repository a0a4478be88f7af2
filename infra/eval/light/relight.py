"""Relighting a real video frame by the screen: the physical model (SIMULATED).

The source frame is taken as the person lit by ambient light only, at ``A`` lux on the face,
already exposed and white-balanced by its own camera: its linear value is ``albedo * A`` times a
gain, so per pixel ``albedo * gain = I0 / A``. The screen adds, per channel and per quadrant
``q`` of the panel (luminance ``L_q`` in cd/m^2 of linear colour, screen.py):

* diffuse, on skin: ``I0 / A * sum_q L_q * E_q(point, normal)`` with ``E_q`` the quadrant's
  irradiance per cd/m^2 (cos at the panel, cos at the skin, 1/r^2; surface normals from the face
  mesh, geometry.py); outside the face hull the same on the wall behind (one value per quadrant);
* sheen, on forehead, nose and cheeks: Blinn-Phong in the screen's own colour, scaled by the
  frame's gain ``kappa = mean face value / (skin_albedo * A)`` (white-diffuser units);
* the corneal highlights (cornea.py), in the same units.

All terms are linear in ``L_q``: ``FrameLight`` keeps the per-quadrant unit fields on a coarse
grid (every 8th pixel) and ``render`` weights and upsamples them for any screen state, including
a state averaged over an exposure during which the screen changed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from PIL import Image

from infra.eval.light.cornea import Stamp, add_stamps
from infra.eval.light.geometry import GRID_PX

Array = npt.NDArray[np.float64]
LUMA = np.array([0.2126, 0.7152, 0.0722])
CENTRE_WEIGHT_SIGMA = 0.3  # centre-weighted metering, as webcams' auto-exposure commonly does


@dataclass(frozen=True)
class FrameLight:
    face: Array  # (4, gh, gw) lux per cd/m^2 on the face, and on the head's outline around it
    skin: Array  # (gh, gw) 1 on the face hull
    person: Array  # (gh, gw) 1 on the face and the head's outline (at the face's distance)
    wall: Array  # (4,) lux per cd/m^2 on the wall behind
    sheen: Array  # (4, gh, gw) white-diffuser lux per cd/m^2
    stamps: tuple[Stamp, ...]
    gain: float  # kappa: image value per white-diffuser lux

    def diffuse(self) -> Array:
        return np.asarray(self.person * self.face + (1 - self.person) * self.wall[:, None, None])

    def none(self) -> FrameLight:
        """No screen light at all (a replayed video)."""
        zero = np.zeros_like(self.face)
        return replace(self, face=zero, wall=np.zeros(4), sheen=zero, stamps=())


def frame_gain(base_grid: Array, skin: Array, ambient_lux: float, albedo: float) -> float:
    """kappa from the face's mean brightness (the whole frame's without a face): the frame's
    exposure in white-diffuser units."""
    face = base_grid[skin > 0.5]
    brightness = float((face @ LUMA).mean()) if len(face) else float((base_grid @ LUMA).mean())
    return max(brightness, 1e-4) / (albedo * ambient_lux)


def grid_sample(image: Array) -> Array:
    """The (gh, gw, 3) values of a linear image at the grid's pixels (geometry.GRID_PX)."""
    rows = np.arange(GRID_PX // 2, image.shape[0], GRID_PX)
    columns = np.arange(GRID_PX // 2, image.shape[1], GRID_PX)
    return np.asarray(image[np.ix_(rows, columns)])


@dataclass(frozen=True)
class Response:
    """The frame's mean values for a screen state, linear in it: ``base + sum_q L_q * per_unit_q``,
    (2, 3): row 0 centre-weighted (what auto-exposure meters), row 1 the plain mean (what grey-world
    white balance reads). Read cheaply on the grid, not on the rendered image."""

    base: Array  # (2, 3)
    per_unit: Array  # (2, 4, 3)

    def mean(self, luminance: Array) -> Array:
        return np.asarray(self.base + (luminance[None] * self.per_unit).sum(axis=1))


def metering(shape: tuple[int, int]) -> Array:
    """Weights (2, gh, gw): centre-weighted (a Gaussian of 0.3 of each side), and uniform."""
    ys, xs = (np.linspace(-0.5, 0.5, n) for n in shape)
    centre = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * CENTRE_WEIGHT_SIGMA**2))
    return np.stack([centre / centre.sum(), np.full(shape, 1.0 / (shape[0] * shape[1]))])


def response(base_grid: Array, light: FrameLight, ambient_lux: float) -> Response:
    weights = metering((base_grid.shape[0], base_grid.shape[1]))
    per_unit = np.einsum("mhw,qhw,hwc->mqc", weights, light.diffuse(), base_grid) / ambient_lux
    per_unit += light.gain * np.einsum("mhw,qhw->mq", weights, light.sheen)[:, :, None]
    return Response(base=np.einsum("mhw,hwc->mc", weights, base_grid), per_unit=per_unit)


def upsample(field: Array, shape: tuple[int, int]) -> Array:
    """Bilinear (gh, gw, C) -> (H, W, C): the grid's cells are GRID_PX pixels wide."""
    gh, gw, channels = field.shape
    planes = [np.asarray(Image.fromarray(field[:, :, c].astype(np.float32))
                         .resize((gw * GRID_PX, gh * GRID_PX), Image.Resampling.BILINEAR))
              for c in range(channels)]
    return np.stack(planes, axis=2)[: shape[0], : shape[1]].astype(np.float64)


def render(base: Array, light: FrameLight, luminance: Array, ambient_lux: float) -> Array:
    """The frame (linear, H x W x 3, original camera's units) under quadrant luminances (4, 3)."""
    shape = (base.shape[0], base.shape[1])
    diffuse = np.einsum("qc,qhw->hwc", luminance, light.diffuse()) / ambient_lux
    sheen = np.einsum("qc,qhw->hwc", luminance, light.sheen) * light.gain
    image = base * (1 + upsample(diffuse, shape)) + upsample(sheen, shape)
    add_stamps(image, light.stamps, luminance, light.gain)
    return image
