"""The screen's reflection in each cornea: a tiny, upright image of the panel beside the iris centre.

The cornea is a convex mirror (radius r): a screen patch seen from the eye in direction ``l`` is
reflected where the cornea's normal is the half vector of ``l`` and the view ``v``, i.e. at
``r * h`` from the corneal centre (projected on the image), and its image is ``(r/2)^2 * solid
angle`` large. Its radiance is the patch's times the cornea's reflectance, so in "lux of a white
diffuser" units (the renderer's) it adds ``pi * R * L`` over that area. Each patch is splatted as
a Gaussian holding that energy; the eye opening (the iris model's eyelid contour) clips it, so a
closed eye shows none. The spots are linear in the quadrants' luminances like everything else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from infra.eval.light.params import LightModel
from infra.eval.light.screen import Screen

Array = npt.NDArray[np.float64]
HALF_WINDOW_PX = 6  # the spot never strays further than the cornea's radius from the iris centre
MIN_SIGMA_PX = 0.5  # a spot smaller than a pixel still spreads over about one


@dataclass(frozen=True)
class Stamp:
    """Lux-equivalents per cd/m^2 of each quadrant, (4, h, w), placed with its top-left at (y0, x0)."""

    y0: int
    x0: int
    weights: Array


def inside_polygon(polygon: Array, x: Array, y: Array) -> npt.NDArray[np.bool_]:
    """Even-odd rule for a simple polygon (the eyelid contour need not be convex)."""
    inside = np.zeros(x.shape, dtype=bool)
    a, b = polygon, np.roll(polygon, -1, axis=0)
    for (xa, ya), (xb, yb) in zip(a, b, strict=True):
        crosses = (ya > y) != (yb > y)
        at = xa + (y - ya) * (xb - xa) / np.where(yb == ya, 1e-12, yb - ya)
        inside ^= crosses & (x < at)
    return inside


def stamp(screen: Screen, model: LightModel, centre_px: Array, eye_point: Array, eyelids: Array,
          metres_per_px: float, shape: tuple[int, int]) -> Stamp | None:
    """One eye's highlight; ``eye_point`` in scene metres, ``eyelids`` the (16, 2) opening contour."""
    radius_px = model.cornea_radius_m / metres_per_px
    half = max(HALF_WINDOW_PX, int(np.ceil(radius_px)) + 2)
    x0, y0 = int(np.round(centre_px[0])) - half, int(np.round(centre_px[1])) - half
    xs, ys = np.arange(x0, x0 + 2 * half + 1, dtype=np.float64), np.arange(y0, y0 + 2 * half + 1, dtype=np.float64)
    gx, gy = np.meshgrid(xs, ys)
    opening = inside_polygon(eyelids, gx + 0.5, gy + 0.5) & (gx >= 0) & (gy >= 0)
    opening &= (gx < shape[1]) & (gy < shape[0])
    if not opening.any():
        return None
    rays = screen.patches - eye_point
    r2 = (rays**2).sum(axis=2)
    rays /= np.sqrt(r2)[..., None]
    view = screen.camera - eye_point
    halfway = rays + view / np.linalg.norm(view)
    halfway /= np.linalg.norm(halfway, axis=2, keepdims=True)
    # Image position of each patch's reflection (x right = scene x, y down = -scene y).
    px = centre_px[0] + radius_px * halfway[..., 0]
    py = centre_px[1] - radius_px * halfway[..., 1]
    solid_angle = screen.patch_area_m2 * np.clip(rays[..., 2], 0, None) / r2
    area_px = (model.cornea_radius_m / 2) ** 2 * solid_angle / metres_per_px**2
    sigma = np.maximum(MIN_SIGMA_PX, np.sqrt(area_px) / 2)
    energy = np.pi * model.cornea_reflectance * area_px  # per cd/m^2, summed over the spot
    splat = np.exp(-((gx[None, None] - px[..., None, None]) ** 2 + (gy[None, None] - py[..., None, None]) ** 2)
                   / (2 * sigma[..., None, None] ** 2))
    splat /= splat.sum(axis=(2, 3), keepdims=True)
    weights = (splat * energy[..., None, None]).sum(axis=1) * opening[None]
    return Stamp(y0=y0, x0=x0, weights=np.asarray(weights))


def add_stamps(image: Array, stamps: tuple[Stamp, ...], luminance: Array, gain: float) -> None:
    """Adds the highlights for quadrant luminances (4, 3) cd/m^2 to a linear (H, W, 3) image in place."""
    height, width = image.shape[:2]
    for spot in stamps:
        h, w = spot.weights.shape[1:]
        ya, xa = max(0, spot.y0), max(0, spot.x0)
        yb, xb = min(height, spot.y0 + h), min(width, spot.x0 + w)
        if ya >= yb or xa >= xb:
            continue
        part = spot.weights[:, ya - spot.y0:yb - spot.y0, xa - spot.x0:xb - spot.x0]
        image[ya:yb, xa:xb] += gain * np.einsum("qc,qhw->hwc", luminance, part)
