"""The screen as an area light: four quadrants of small patches, integrated numerically.

Every light step is a colour per quadrant (a full step: the same colour everywhere; left/right:
the two left quadrants one colour, as the person sees the screen; top/bottom likewise), so
everything the renderer computes is linear in the four quadrants' luminances: it computes unit
fields once per frame (cd/m^2 -> lux) and any screen state, even one that changes during the
exposure, is their weighted sum.

Geometry (scene axes of geometry.py): the camera at (0, 0, d) in front of the face, the screen's
top edge ``camera_above_screen_m`` below it, the panel facing the person (normal -z). The
person's left is +x, so the left half as the person sees the screen is the +x half.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from infra.eval.light.params import LightModel
from shared.light import LightPattern, LightStep, linear_rgb

Array = npt.NDArray[np.float64]
# Quadrant order: (top, person's left), (top, right), (bottom, left), (bottom, right).
QUADRANTS = ("top_left", "top_right", "bottom_left", "bottom_right")
LEFT, TOP = np.array([True, False, True, False]), np.array([True, True, False, False])


@dataclass(frozen=True)
class Screen:
    patches: Array  # (4, P, 3) patch centres, metres
    patch_area_m2: float
    camera: Array  # (3,)
    centre: Array  # (3,) the panel's centre

    @classmethod
    def build(cls, model: LightModel, distance_m: float) -> Screen:
        columns, rows = model.patches_per_quadrant
        half_w, half_h = model.screen_width_m / 2, model.screen_height_m / 2
        top = -model.camera_above_screen_m
        quadrants = []
        for left, upper in zip(LEFT, TOP, strict=True):
            x0 = 0.0 if left else -half_w  # the person's left half is +x
            y0 = top - (0.0 if upper else half_h)
            xs = x0 + (np.arange(columns) + 0.5) * half_w / columns
            ys = y0 - (np.arange(rows) + 0.5) * half_h / rows
            gx, gy = np.meshgrid(xs, ys)
            quadrants.append(np.column_stack([gx.ravel(), gy.ravel(), np.full(gx.size, distance_m)]))
        return cls(patches=np.stack(quadrants), patch_area_m2=half_w * half_h / (columns * rows),
                   camera=np.array([0.0, 0.0, distance_m]), centre=np.array([0.0, top - half_h, distance_m]))

    def _rays(self, points: Array) -> tuple[Array, Array]:
        """Unit directions (4, P, N, 3) from each point to each patch, and the squared distances."""
        offsets = self.patches[:, :, None, :] - points[None, None, :, :]
        r2 = (offsets**2).sum(axis=3)
        return offsets / np.sqrt(r2)[..., None], r2

    def irradiance(self, points: Array, normals: Array) -> Array:
        """Lux per cd/m^2 of each quadrant at (N, 3) points with (N, 3) normals: (4, N)."""
        rays, r2 = self._rays(points)
        cos_screen = np.clip(rays[..., 2], 0, None)  # the panel emits towards -z; rays run towards +z
        cos_surface = np.clip(np.einsum("qpni,ni->qpn", rays, normals), 0, None)
        return np.asarray((cos_screen * cos_surface / r2).sum(axis=1) * self.patch_area_m2)

    def sheen(self, points: Array, normals: Array, ks: float, shininess: float) -> Array:
        """Blinn-Phong specular, as lux of a white Lambertian surface giving the same radiance: (4, N)."""
        rays, r2 = self._rays(points)
        view = self.camera[None, :] - points
        view /= np.linalg.norm(view, axis=1, keepdims=True)
        halfway = rays + view[None, None, :, :]
        halfway /= np.linalg.norm(halfway, axis=3, keepdims=True)
        lobe = np.clip(np.einsum("qpni,ni->qpn", halfway, normals), 0, None) ** shininess
        cos_screen = np.clip(rays[..., 2], 0, None)
        cos_surface = np.clip(np.einsum("qpni,ni->qpn", rays, normals), 0, None)
        energy = ks * (shininess + 8) / 8  # normalised lobe, relative to a white diffuser's 1/pi
        return np.asarray((energy * lobe * cos_screen * cos_surface / r2).sum(axis=1) * self.patch_area_m2)

    def wall(self, distance_m: float) -> Array:
        """Lux per cd/m^2 of each quadrant on the wall behind the face (normal +z): (4,)."""
        point = np.array([[0.0, 0.0, -distance_m]])
        return self.irradiance(point, np.array([[0.0, 0.0, 1.0]]))[:, 0]


def quadrant_colours(step: LightStep | None) -> Array:
    """Linear RGB (4, 3) of each quadrant while ``step`` is shown (None: the page's white)."""
    if step is None:
        return np.ones((4, 3))
    first, second = (np.array(linear_rgb(c)) for c in step.halves())
    if step.pattern is LightPattern.LEFT_RIGHT:
        return np.stack([first if left else second for left in LEFT])
    if step.pattern is LightPattern.TOP_BOTTOM:
        return np.stack([first if top else second for top in TOP])
    return np.stack([first] * 4)
