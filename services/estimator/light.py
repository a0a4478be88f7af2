"""The screen-light response of one frame: mean linear RGB of skin regions, background and corneas.

The regions come from the face mesh, chosen once by the canonical mesh's *normals* (local PCA of
each vertex's neighbours): the cheek that faces the person's left is what the left half of their
screen lights most, the forehead faces up towards the top half, the chin and jaw down. Eyes,
brows, lips and the silhouette (hair, background mixing in) are left out. Each chosen landmark
contributes a small square patch (its side follows the face's size), so a frame costs a few
thousand pixel reads, not a polygon fill.

Linear light: the camera's sRGB values are decoded first (a 256-entry table), because the
reflection adds light linearly and the plugin compares ratios against the session's baseline.
The decision is not made here (services/plugins/builtins/light_challenge.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.estimator.model import RGBImage
from services.estimator.models.face_mesh import FloatArray
from services.estimator.models.iris import Eyes
from shared.light import srgb_to_linear
from shared.messages import RGB, LightSample, Rect

LINEAR = np.array([srgb_to_linear(v / 255) for v in range(256)], dtype=np.float32)
NEIGHBOURS = 10  # vertices in each local plane fit: the mesh's spacing is ~1 cm, the regions ~4 cm
# Canonical coordinates (cm; x to the subject's left, y up, z towards the camera).
EYE_CENTRES = ((-3.15, 2.62), (3.15, 2.62))
EYE_EXCLUSION_CM = 2.0  # eye, lids and the near end of the brow
BROW_BAND_CM = (3.6, 5.6)  # heights of the brows and their hairs
MOUTH_CENTRE, MOUTH_HALF_AXES = (0.0, -4.3), (3.2, 1.3)
MIN_FACING_CAMERA = 0.25  # normal z: below it the surface is at the silhouette (hair, background)
SIDE_NORMAL = 0.2  # |normal x| of a cheek that faces one side
# ... within this of the midline: the flanks of the nose and the inner cheeks. Left against right is
# meant to measure where the *normals* point; the outer cheeks also sit 5 cm off the screen's axis,
# and at 30 cm that position alone gives a flat print a 58/42 split (a face's cheeks: 57-64/43-36).
# Near the midline the normals are as sideways (mean |x| 1.1 cm, |normal x| 0.69) and position
# counts 2.4 times less.
SIDE_MAX_X_CM = 2.0
UP_DOWN_NORMAL = 0.12  # |normal y| of the forehead / the chin and jaw
PATCH_IOD_SHARE = 0.04  # patch half-side in inter-ocular distances (~2 px at 60 px between the eyes)
MIN_CORNEA_RADIUS_PX = 2.5  # smaller irises have no readable highlight
HIGHLIGHT_SHARE = 0.08  # the brightest share of iris pixels taken as the corneal reflection
BACKGROUND_STRIDE = 3  # the background band is large: every third pixel is plenty
BAND_NEAR, BAND_FAR = 0.4, 1.0  # background bands, in face widths from the face box
SIDES = ("left", "right", "top", "bottom")


@dataclass(frozen=True)
class Regions:
    """Landmark indices of each region, derived from the canonical mesh (every region's landmarks
    are among the face's: one gather of patches serves all five)."""

    face: npt.NDArray[np.intp]
    left: npt.NDArray[np.intp]
    right: npt.NDArray[np.intp]
    top: npt.NDArray[np.intp]
    bottom: npt.NDArray[np.intp]

    def within_face(self, name: str) -> npt.NDArray[np.intp]:
        """Positions of region ``name``'s landmarks in ``face``."""
        region: npt.NDArray[np.intp] = getattr(self, name)
        return np.searchsorted(self.face, region)


def vertex_normals(vertices: FloatArray) -> FloatArray:
    """Unit normals by a plane fit over each vertex's nearest neighbours, pointing to +z (out)."""
    distances = np.linalg.norm(vertices[:, None, :] - vertices[None, :, :], axis=2)
    nearest = np.argsort(distances, axis=1)[:, :NEIGHBOURS]
    normals = np.empty_like(vertices)
    centre = vertices.mean(axis=0)
    for index, neighbours in enumerate(nearest):
        points = vertices[neighbours] - vertices[neighbours].mean(axis=0)
        normal = np.linalg.svd(points, full_matrices=False)[2][-1]
        # Outwards: away from the head's inside (the mesh's centroid lies behind the face).
        normals[index] = normal if np.dot(normal, vertices[index] - centre) >= 0 else -normal
    return normals.astype(np.float32)


def regions_from_canonical(vertices: FloatArray) -> Regions:
    normals = vertex_normals(vertices)
    x, y = vertices[:, 0], vertices[:, 1]
    skin = normals[:, 2] >= MIN_FACING_CAMERA
    for ex, ey in EYE_CENTRES:
        skin &= np.hypot(x - ex, y - ey) > EYE_EXCLUSION_CM
    skin &= ~((y > BROW_BAND_CM[0]) & (y < BROW_BAND_CM[1]) & (np.abs(x) > 1.0))
    mouth = ((x - MOUTH_CENTRE[0]) / MOUTH_HALF_AXES[0]) ** 2 + ((y - MOUTH_CENTRE[1]) / MOUTH_HALF_AXES[1]) ** 2
    skin &= mouth > 1
    below_eyes = y < EYE_CENTRES[0][1] - 1.0
    near_midline = np.abs(x) < SIDE_MAX_X_CM
    return Regions(
        face=np.flatnonzero(skin),
        left=np.flatnonzero(skin & below_eyes & near_midline & (normals[:, 0] > SIDE_NORMAL)),
        right=np.flatnonzero(skin & below_eyes & near_midline & (normals[:, 0] < -SIDE_NORMAL)),
        top=np.flatnonzero(skin & (y > BROW_BAND_CM[1]) & (normals[:, 1] > UP_DOWN_NORMAL)),
        bottom=np.flatnonzero(skin & (y < MOUTH_CENTRE[1]) & (normals[:, 1] < -UP_DOWN_NORMAL)),
    )


class LightMeter:
    """Measures ``LightSample`` on frames; built once per process from the canonical mesh."""

    def __init__(self, canonical: FloatArray) -> None:
        self.regions = regions_from_canonical(canonical)
        self._parts = {name: self.regions.within_face(name) for name in SIDES}

    def measure(self, image: RGBImage, landmarks: FloatArray, eyes: Eyes | None, box: Rect, iod: float,
                mirrored: bool) -> LightSample:
        half = max(1, round(PATCH_IOD_SHARE * iod))
        patches = _patch_means(image, landmarks[self.regions.face, :2], half)
        means = {"face": _rgb(patches.mean(axis=0))}
        means.update({name: _rgb(patches[part].mean(axis=0)) for name, part in self._parts.items()})
        if mirrored:  # the mesh labels sides by appearance: in a mirrored frame they are swapped
            means["left"], means["right"] = means["right"], means["left"]
        return LightSample(face=means["face"], left=means["left"], right=means["right"], top=means["top"],
                           bottom=means["bottom"], background=_background(image, box),
                           cornea=_cornea(image, eyes) if eyes is not None else None)


def _rgb(values: npt.NDArray[np.float32]) -> RGB:
    return round(float(values[0]), 6), round(float(values[1]), 6), round(float(values[2]), 6)


def _patch_means(image: RGBImage, points: FloatArray, half: int) -> npt.NDArray[np.float32]:
    """(N, 3) mean linear RGB of a square patch around each point; a patch crossing the frame's
    border repeats the border pixels (the face is inside the frame: the checks need margins)."""
    height, width = image.shape[:2]
    offsets = np.arange(-half, half + 1)
    xs = np.clip(np.floor(points[:, 0]).astype(np.intp)[:, None] + offsets[None, :], 0, width - 1)
    ys = np.clip(np.floor(points[:, 1]).astype(np.intp)[:, None] + offsets[None, :], 0, height - 1)
    pixels = image[ys[:, :, None], xs[:, None, :]]  # (N, side, side, 3)
    means: npt.NDArray[np.float32] = LINEAR[pixels].mean(axis=(1, 2))
    return means


def _background(image: RGBImage, box: Rect) -> RGB | None:
    """Bands beside the head, well clear of hair and ears (0.4 to 1 face width from the face box),
    over the face's upper half (shoulders rise below it), as far as the frame goes."""
    height, width = image.shape[:2]
    top, bottom = max(0, int(box.y - 0.2 * box.height)), min(height, int(box.y + 0.5 * box.height))
    bands = [(int(box.x - BAND_FAR * box.width), int(box.x - BAND_NEAR * box.width)),
             (int(box.x + (1 + BAND_NEAR) * box.width), int(box.x + (1 + BAND_FAR) * box.width))]
    parts = [image[top:bottom:BACKGROUND_STRIDE, max(0, a):min(width, b):BACKGROUND_STRIDE].reshape(-1, 3)
             for a, b in bands if min(width, b) - max(0, a) >= 4]
    pixels = np.concatenate(parts) if parts else np.empty((0, 3), np.uint8)
    if len(pixels) < 32:
        return None
    return _rgb(LINEAR[pixels].mean(axis=0))


def _cornea(image: RGBImage, eyes: Eyes) -> RGB | None:
    """Mean colour of the brightest pixels inside each iris: the screen's reflection in the cornea."""
    height, width = image.shape[:2]
    found = []
    for eye in (eyes.left, eyes.right):
        centre = eye.iris[0, :2]
        radius = float(np.median(np.linalg.norm(eye.iris[1:, :2] - centre, axis=1)))
        if radius < MIN_CORNEA_RADIUS_PX:
            continue
        x0, x1 = max(0, int(centre[0] - radius)), min(width, int(centre[0] + radius) + 1)
        y0, y1 = max(0, int(centre[1] - radius)), min(height, int(centre[1] + radius) + 1)
        patch = LINEAR[image[y0:y1, x0:x1].reshape(-1, 3)]
        if len(patch) < 4:
            continue
        brightness = patch.sum(axis=1)
        count = max(2, int(HIGHLIGHT_SHARE * len(patch)))
        found.append(patch[np.argsort(brightness)[-count:]].mean(axis=0))
    return _rgb(np.mean(found, axis=0)) if found else None
