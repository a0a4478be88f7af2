"""A plain NumPy renderer of MediaPipe's canonical face mesh, for head-pose ground truth.

The mesh (468 vertices from var/models, 898 triangles read from the digest-checked npm archive
in var/cache) is textured with a real face: each vertex takes its colour from where the face
mesh model put the same landmark on a real frontal photo, so eyes, brows, nostrils and lips of
the photo land on the mesh's own eyes, brows, nostrils and lips. It is then rotated by a known
rotation, seen through a pinhole camera, and rasterised: barycentric texture lookup (bilinear),
a z-buffer, 2x supersampling for smooth edges. Only the face mask is drawn (no hair, ears or
neck), over a flat background.

Angles follow services/estimator/pose.py exactly: ``rotation_from_angles`` builds the rotation
whose forward and up vectors give back the same yaw, pitch and roll through ``head_pose``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from infra.prepare_models import MANIFEST_PATH, Source, canonical_mesh_triangles, extract_member, fetch_archive

Floats = npt.NDArray[np.float64]


def canonical_triangles(cache: Path) -> npt.NDArray[np.int32]:
    entry = json.loads(MANIFEST_PATH.read_text())["models"]["canonical_face_mesh"]
    source = Source(**entry["source"])
    return canonical_mesh_triangles(extract_member(source, fetch_archive(source, cache)))


def rotation_from_angles(yaw: float, pitch: float, roll: float) -> Floats:
    """The rotation (mesh axes: x image-right, y up, z to the camera) with these pose.py angles."""
    y, p, r = (math.radians(a) for a in (yaw, pitch, roll))
    forward = np.array([math.sin(y) * math.cos(p), math.sin(p), math.cos(y) * math.cos(p)])
    # pose.py's roll is atan2(up_x, up_y): pick up = (sin r, cos r, z) * k, orthogonal to forward.
    up = np.array([math.sin(r), math.cos(r), 0.0])
    up[2] = -(up[0] * forward[0] + up[1] * forward[1]) / forward[2]
    up /= np.linalg.norm(up)
    right = np.cross(up, forward)  # x = y cross z for a right-handed frame
    return np.column_stack([right, up, forward])


@dataclass(frozen=True)
class Camera:
    """A webcam-like pinhole camera: 640x480, 600 px focal length (56 degrees across), the head
    60 cm away, so the outer eye corners are ~90 px apart as in the project's real frames."""

    width: int = 640
    height: int = 480
    focal: float = 600.0
    distance_cm: float = 60.0

    def project(self, points: Floats, scale: int = 1) -> tuple[Floats, Floats]:
        """Pixel coordinates (x right, y down) and depth from the camera of mesh-space points."""
        depth = self.distance_cm - points[:, 2]
        x = (self.width / 2 + self.focal * points[:, 0] / depth) * scale
        y = (self.height / 2 - self.focal * points[:, 1] / depth) * scale
        return np.column_stack([x, y]), depth


def _bilinear(texture: npt.NDArray[np.uint8], x: Floats, y: Floats) -> Floats:
    h, w = texture.shape[:2]
    x, y = np.clip(x, 0, w - 1.001), np.clip(y, 0, h - 1.001)
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = texture[y0, x0] * (1 - fx) + texture[y0, x0 + 1] * fx  # float64 from here on
    bottom = texture[y0 + 1, x0] * (1 - fx) + texture[y0 + 1, x0 + 1] * fx
    return np.asarray(top * (1 - fy) + bottom * fy)


def _rasterise(screen: Floats, depth: Floats, triangles: npt.NDArray[np.int32], width: int, height: int
               ) -> tuple[npt.NDArray[np.int64], Floats, Floats, npt.NDArray[np.int32]]:
    """Every (pixel, depth, barycentric weights, triangle corners) a triangle covers, unsorted.

    Each triangle's bounding box becomes a grid of pixel centres tested all at once; triangles are
    grouped by box size (powers of two) so a few large ones do not inflate every small one's grid.
    """
    tri = screen[triangles]  # (T, 3, 2)
    low = np.floor(tri.min(axis=1)).astype(np.int64)
    spans = np.ceil(tri.max(axis=1) - low).max(axis=1).astype(np.int64) + 1
    buckets = 2 ** np.ceil(np.log2(np.maximum(spans, 1))).astype(np.int64)
    parts: list[tuple[npt.NDArray[np.int64], Floats, Floats, npt.NDArray[np.int32]]] = []
    for span in np.unique(buckets):
        group = np.nonzero(buckets == span)[0]
        grid = np.stack(np.meshgrid(np.arange(span), np.arange(span), indexing="xy"), axis=-1).reshape(-1, 2)
        pixels = low[group, None, :] + grid[None, :, :]  # (G, span^2, 2)
        centres = pixels + 0.5
        a, b, c = tri[group, 0, None, :], tri[group, 1, None, :], tri[group, 2, None, :]
        area = (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])
        safe = np.where(np.abs(area) < 1e-9, np.inf, area)  # degenerate (edge-on) triangles cover nothing
        w1 = ((centres[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1])
              - (centres[..., 1] - a[..., 1]) * (c[..., 0] - a[..., 0])) / safe
        w2 = ((b[..., 0] - a[..., 0]) * (centres[..., 1] - a[..., 1])
              - (b[..., 1] - a[..., 1]) * (centres[..., 0] - a[..., 0])) / safe
        w0 = 1 - w1 - w2
        inside = ((w0 >= 0) & (w1 >= 0) & (w2 >= 0) & (pixels[..., 0] >= 0) & (pixels[..., 0] < width)
                  & (pixels[..., 1] >= 0) & (pixels[..., 1] < height))
        t, k = np.nonzero(inside)
        bary = np.stack([w0[t, k], w1[t, k], w2[t, k]], axis=1)
        corners = triangles[group[t]]
        z = (bary * depth[corners]).sum(axis=1)  # screen-linear depth: fine for triangles this small
        parts.append((pixels[t, k, 1] * width + pixels[t, k, 0], z, bary, corners))
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]))


def render(vertices: npt.NDArray[np.float32], triangles: npt.NDArray[np.int32], texture: npt.NDArray[np.uint8],
           uv: npt.NDArray[np.float32], rotation: Floats, camera: Camera = Camera(),
           background: tuple[int, int, int] = (118, 122, 126), supersample: int = 2) -> Image.Image:
    """The mesh rotated by ``rotation`` about its centroid, ``uv`` = texture pixel of each vertex."""
    points = vertices.astype(np.float64)
    centre = points.mean(axis=0)
    points = (points - centre) @ rotation.T
    screen, depth = camera.project(points, supersample)
    width, height = camera.width * supersample, camera.height * supersample
    flat, z, bary, corners = _rasterise(screen, depth, triangles, width, height)
    order = np.lexsort((z, flat))  # by pixel, nearest first
    flat, keep = np.unique(flat[order], return_index=True)
    chosen = order[keep]
    texel = (bary[chosen, :, None] * uv.astype(np.float64)[corners[chosen]]).sum(axis=1)
    colours = _bilinear(texture, texel[:, 0], texel[:, 1])
    image = np.empty((height * width, 3), dtype=np.float32)
    image[:] = background
    image[flat] = colours
    out = Image.fromarray(np.clip(image.reshape(height, width, 3) + 0.5, 0, 255).astype(np.uint8))
    if supersample > 1:
        out = out.resize((camera.width, camera.height), Image.Resampling.BOX)
    return out
