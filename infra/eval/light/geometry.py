"""The face's surface from the face mesh: 3-D points and normals on a coarse pixel grid.

Vertex normals come from MediaPipe's canonical mesh (local PCA over the nearest vertices, turned
outwards from a point inside the head), rotated by the head pose that the similarity fit of the
canonical mesh onto the frame's 468 landmarks gives (services/estimator/pose.py). Pixels inside
the landmarks' convex hull get a Gaussian-weighted mean of the landmark normals and depths. Scene
axes: x to the image right of the (non-mirrored) camera picture, i.e. the person's left; y up;
z towards the camera and screen; metres, origin at the landmarks' centroid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.estimator.pose import rotation_onto

Array = npt.NDArray[np.float64]
K_NEIGHBOURS = 12  # a vertex's neighbourhood for its tangent plane (the mesh spacing is ~1 cm)
HEAD_CENTRE_CM = np.array([0.0, -0.7, -3.0])  # inside the head: normals point away from it
GRID_PX = 8  # the fields are smooth at this scale; the renderer upsamples them
SIGMA_SPACINGS = 1.2  # Gaussian width in units of the median landmark spacing
# Where skin has sheen (forehead, nose, cheeks): away from the eyes and the mouth (canonical cm).
EYE_CORNERS, MOUTH = ((33, 133), (362, 263)), (13, 14)
EYE_CLEAR_CM, MOUTH_CLEAR_CM = 1.4, 2.0


def vertex_normals(canonical: npt.NDArray[np.float32]) -> Array:
    """Unit outward normals of the canonical mesh's vertices, (468, 3)."""
    vertices = canonical.astype(np.float64)
    distances = ((vertices[:, None, :] - vertices[None, :, :]) ** 2).sum(axis=2)
    neighbours = vertices[np.argsort(distances, axis=1)[:, :K_NEIGHBOURS]]
    centred = neighbours - neighbours.mean(axis=1, keepdims=True)
    _, vectors = np.linalg.eigh(np.einsum("nki,nkj->nij", centred, centred))
    normals = vectors[:, :, 0]  # the smallest eigenvalue's vector: the surface normal
    outward = np.sign(np.einsum("ni,ni->n", normals, vertices - HEAD_CENTRE_CM))
    return np.asarray(normals * np.where(outward == 0, 1.0, outward)[:, None])


def sheen_weights(canonical: npt.NDArray[np.float32]) -> Array:
    """Per vertex in [0, 1]: 1 on forehead, nose and cheeks, 0 on the eyes and lips."""
    vertices = canonical.astype(np.float64)
    weight = np.ones(len(vertices))
    for corners in EYE_CORNERS:
        centre = vertices[list(corners)].mean(axis=0)
        weight *= 1 - np.exp(-((vertices - centre) ** 2).sum(axis=1) / (2 * EYE_CLEAR_CM**2))
    mouth = vertices[list(MOUTH)].mean(axis=0)
    return np.asarray(weight * (1 - np.exp(-((vertices - mouth) ** 2).sum(axis=1) / (2 * MOUTH_CLEAR_CM**2))))


@dataclass(frozen=True)
class Surface:
    """What the renderer needs of one frame's face, on a grid of every ``GRID_PX``-th pixel."""

    xs: Array  # (gw,) pixel columns of the grid
    ys: Array  # (gh,) pixel rows
    skin: Array  # (gh, gw): 1 inside the face hull (soft edge)
    person: Array  # (gh, gw): 1 on the face and the head's outline at the face's distance
    points: Array  # (gh, gw, 3) metres, scene axes
    normals: Array  # (gh, gw, 3) unit
    sheen: Array  # (gh, gw) specular weight
    metres_per_px: float


def convex_hull(points: Array) -> Array:
    """Counter-clockwise hull (in x-right, y-down pixels: clockwise on screen) of (N, 2) points."""
    order = sorted(map(tuple, points.tolist()))

    def half(sequence: list[tuple[float, ...]]) -> list[tuple[float, ...]]:
        chain: list[tuple[float, ...]] = []
        for p in sequence:
            while len(chain) >= 2 and ((chain[-1][0] - chain[-2][0]) * (p[1] - chain[-2][1])
                                       - (chain[-1][1] - chain[-2][1]) * (p[0] - chain[-2][0])) <= 0:
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(order), half(order[::-1])
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def hull_distance(hull: Array, x: Array, y: Array) -> Array:
    """Signed distance in pixels from the convex polygon ``hull`` (negative inside; outside, the
    largest distance beyond an edge's line: exact enough for a soft edge)."""
    a, b = hull, np.roll(hull, -1, axis=0)
    length = np.hypot(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])[:, None]
    cross = ((b[:, 0] - a[:, 0])[:, None] * (y.ravel() - a[:, 1][:, None])
             - (b[:, 1] - a[:, 1])[:, None] * (x.ravel() - a[:, 0][:, None]))
    return np.asarray((-cross / np.maximum(length, 1e-9)).max(axis=0).reshape(x.shape))


def surface(landmarks: npt.NDArray[np.float32], canonical: npt.NDArray[np.float32], normals: Array,
            sheen: Array, shape: tuple[int, int], halo: tuple[float, float], *,
            flat_towards: Array | None = None) -> Surface:
    """The face surface of a frame of ``shape`` (H, W) from its landmarks (image pixels).

    ``halo``: (width, fade) in shares of the face's width: the head's outline (hair, ears, neck)
    at the face's distance around the hull, then a fade to the wall.
    ``flat_towards`` (a scene point): a flat print instead of a face: every point of the hull
    gets the same normal, towards that point, and lies in the plane z = 0.
    """
    height, width = shape
    xs, ys = np.arange(GRID_PX / 2, width, GRID_PX), np.arange(GRID_PX / 2, height, GRID_PX)
    gx, gy = np.meshgrid(xs, ys)
    pixels = landmarks.astype(np.float64)
    scene = np.column_stack([pixels[:, 0], -pixels[:, 1], -pixels[:, 2]])
    centre = scene.mean(axis=0)
    reference = canonical.astype(np.float64) - canonical.mean(axis=0)
    metres = 0.01 * float(np.sqrt((reference**2).sum() / ((scene - centre) ** 2).sum()))
    distance = hull_distance(convex_hull(pixels[:, :2]), gx, gy)
    face_width = float(np.ptp(pixels[:, 0]))
    skin = np.clip(0.5 - distance / GRID_PX, 0.0, 1.0)  # a soft edge one grid cell wide
    person = np.clip(1 - (distance - halo[0] * face_width) / max(halo[1] * face_width, 1.0), 0.0, 1.0)
    inside = skin.ravel() > 0
    px, py = gx.ravel()[inside], gy.ravel()[inside]
    # Gaussian interpolation from the landmarks, inside the hull only (numpy only: no scipy here).
    nearest = np.sort(((pixels[:, None, :2] - pixels[None, :, :2]) ** 2).sum(axis=2), axis=1)[:, 1]
    sigma = SIGMA_SPACINGS * float(np.sqrt(np.median(nearest)))
    d2 = (px[:, None] - pixels[None, :, 0]) ** 2 + (py[:, None] - pixels[None, :, 1]) ** 2
    weights = np.exp(-(d2 - d2.min(axis=1, keepdims=True)) / (2 * sigma**2))
    weights /= weights.sum(axis=1, keepdims=True)
    rotation = rotation_onto(canonical, scene.astype(np.float32))
    depth, field, gloss = np.zeros(gx.size), np.zeros((gx.size, 3)), np.zeros(gx.size)
    field[:, 2] = 1.0  # outside the face: the head's outline, facing the camera
    if flat_towards is None:
        turned = weights @ (normals @ rotation.T)
        field[inside] = turned / np.linalg.norm(turned, axis=1, keepdims=True)
        depth[inside] = (weights @ (scene[:, 2] - centre[2])) * metres
        gloss[inside] = weights @ sheen
    else:
        field[inside] = flat_towards / np.linalg.norm(flat_towards)
    points = np.stack([(gx.ravel() - centre[0]) * metres, -(gy.ravel() + centre[1]) * metres, depth], axis=1)
    grid = (len(ys), len(xs))
    return Surface(xs=xs, ys=ys, skin=skin, person=person, points=points.reshape(*grid, 3),
                   normals=field.reshape(*grid, 3), sheen=gloss.reshape(grid), metres_per_px=metres)
