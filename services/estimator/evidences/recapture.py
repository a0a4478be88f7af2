"""Passive recapture cues: signs that the camera films a screen or a print instead of a face.

Measured heuristics, not a trained model (``source`` says so). Each cue is in [0, 1], 1 = looks
like a live face in front of the camera; docs/evidence.md gives each cue's separation on the real
genuine / replay media, failures included. The cues (from ../shared/reference/models.md, the ones
that showed signal):

* ``bezel``: long straight lines (screen bezel, phone or paper edge) on 2 or more sides of the
  face. Found on a 320-px copy of the frame: a Hough transform of the strong edges in which each
  edge pixel votes only along its own gradient direction, each peak kept when it holds one
  unbroken segment at least 0.6 face heights long (25 px minimum). A near-vertical segment left
  or right of the face, or a near-horizontal one above or below it, marks that side. Cue by sides:
  0 -> 1, 1 -> 0.8, 2 -> 0.35, 3 -> 0.1, 4 -> 0. Misses close-up prints and screens whose edges
  are out of view; door and window frames behind a genuine user trigger it.
* ``saturation``: mean HSV saturation of the inner face, ``(s - 0.15) / 0.15``. Every replay and
  print lowered it, but white balance, light and skin tone move it as much.
* ``sharpness``: variance of the Laplacian over the variance of the face at 112 px (as
  services/estimator/quality.py), on a log scale from 0.004 (-> 0) to 0.03 (-> 1). A blurred or
  low-resolution genuine camera looks like an attack; a sharp still passes.
* ``glare``: share of clipped, colourless pixels (luminance >= 245, chroma <= 30) in the face box
  grown by one face width / half a height around it, ``1 - share / 0.03``. Specific when present
  (a phone screen's reflection); nothing on a monitor replay or a matte print.

Combination (noisy-OR of risks): ``score = prod(1 - w * (1 - cue))``, weights bezel 0.6,
saturation 0.35, sharpness 0.45, glare 0.3: one cue alone can take the score down to 1 - w.

Intended use: every cue is confounded by ordinary genuine conditions, so the score raises risk and
makes the decider ask for another random challenge; it must never reject a person on its own. It
cannot see a replay without visible edges on a sharp, well-saturated screen, and it cannot see a
deepfake or an injected stream at all. FFT moire and the npm "antispoof" model were left out (no
signal, see models.md). The main defence against replayed video is the random active challenge.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

from services.estimator.evidence import EvidenceInput
from services.estimator.model import RGBImage
from services.estimator.quality import face_crop
from shared.messages import EvidenceScore, Rect

SOURCE = "heuristic:recapture-cues"
WEIGHTS = {"bezel": 0.6, "saturation": 0.35, "sharpness": 0.45, "glare": 0.3}
BEZEL_BY_SIDES = (1.0, 0.8, 0.35, 0.1, 0.0)
LINE_SIDE = 320  # px, longest side of the copy searched for lines
ANGLE_BINS = 60  # 3-degree bins of the line normal
FloatArray = npt.NDArray[np.float32]


class RecaptureEvidence:
    name = "recapture"

    def estimate(self, item: EvidenceInput) -> EvidenceScore:
        cues = recapture_cues(item.image, item.face.box)
        score = float(np.prod([1 - WEIGHTS[k] * (1 - v) for k, v in cues.items()]))
        return EvidenceScore(score=round(score, 4), source=SOURCE, cues=cues)


def recapture_cues(image: RGBImage, box: Rect) -> dict[str, float]:
    crop = face_crop(image, box).astype(np.float32)
    return {
        "bezel": BEZEL_BY_SIDES[min(4, len(line_sides(image, box)))],
        "saturation": _unit((saturation(crop) - 0.15) / 0.15),
        "sharpness": _unit(np.log(max(sharpness(crop), 1e-6) / 0.004) / np.log(0.03 / 0.004)),
        "glare": _unit(1 - glare_share(image, box) / 0.03),
    }


def saturation(crop: FloatArray) -> float:
    inner = crop[20:92, 22:90]  # the 112-px crop's skin, away from hair and background
    r, g, b = inner[..., 0], inner[..., 1], inner[..., 2]
    # Channel-wise: the same values as max / min over axis 2, without NumPy's slow short-axis reduce.
    high, low = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    return float(((high - low) / (high + 1e-3)).mean())


def sharpness(crop: FloatArray) -> float:
    grey = _grey(crop)
    lap = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(lap.var() / (grey.var() + 1e-6))


def glare_share(image: RGBImage, box: Rect) -> float:
    height, width = image.shape[:2]
    x1, y1 = int(max(0, box.x - box.width)), int(max(0, box.y - box.height / 2))
    x2, y2 = int(min(width, box.x + 2 * box.width)), int(min(height, box.y + 2 * box.height))
    region = image[y1:max(y2, y1 + 1), x1:max(x2, x1 + 1)]
    # Luminance >= 245 with chroma <= 30 implies every channel >= 215: test the few such pixels only.
    # np.minimum over the channels: a uint8 min(axis=2) is ~15x slower in NumPy.
    darkest = np.minimum(np.minimum(region[..., 0], region[..., 1]), region[..., 2])
    candidates = region[darkest >= 215].astype(np.float32)
    clipped = (_grey(candidates) >= 245) & (candidates.max(axis=1) - candidates.min(axis=1) <= 30)
    return float(clipped.sum() / max(1, region.shape[0] * region.shape[1]))


def line_sides(image: RGBImage, box: Rect) -> set[str]:
    """Sides of the face (left, right, top, bottom) with a long straight segment beside them."""
    height, width = image.shape[:2]
    grey = _grey(np.asarray(_shrunk(image), dtype=np.float32))
    scale = LINE_SIDE / max(height, width)
    g = grey
    gx, gy = np.zeros_like(g), np.zeros_like(g)  # Sobel
    gx[1:-1, 1:-1] = 2 * (g[1:-1, 2:] - g[1:-1, :-2]) + g[:-2, 2:] - g[:-2, :-2] + g[2:, 2:] - g[2:, :-2]
    gy[1:-1, 1:-1] = 2 * (g[2:, 1:-1] - g[:-2, 1:-1]) + g[2:, :-2] - g[:-2, :-2] + g[2:, 2:] - g[:-2, 2:]
    magnitude = np.hypot(gx, gy)
    ys, xs = np.nonzero(magnitude > max(40.0, _percentile(magnitude, 85)))
    # Each edge pixel votes once, for the line through it perpendicular to its gradient.
    bins = np.minimum((np.mod(np.arctan2(gy[ys, xs], gx[ys, xs]), np.pi) / np.pi * ANGLE_BINS).astype(int),
                      ANGLE_BINS - 1)
    normal = (bins + 0.5) * np.pi / ANGLE_BINS
    diagonal = float(np.hypot(*grey.shape))
    rho = np.round((xs * np.cos(normal) + ys * np.sin(normal) + diagonal) / 2).astype(int)
    cells = int(diagonal) + 2
    votes = np.bincount(bins * cells + rho, minlength=ANGLE_BINS * cells)
    x, y, w, h = box.x * scale, box.y * scale, box.width * scale, box.height * scale
    shortest = max(25.0, 0.6 * h)
    # The edge pixels grouped by angle bin (a stable sort keeps their order inside a bin), so each
    # peak scans its own bin's pixels, not every edge pixel: same pixels, same order, same sums.
    by_bin = np.argsort(bins, kind="stable")
    bin_starts = np.searchsorted(bins[by_bin], np.arange(ANGLE_BINS + 1))
    # The 40 strongest cells, strongest first: a partial selection instead of sorting all ~25k.
    top = np.argpartition(-votes, 40)[:40] if votes.size > 40 else np.arange(votes.size)
    sides: set[str] = set()
    for cell in top[np.argsort(-votes[top], kind="stable")]:
        if votes[cell] < shortest:
            break
        angle_bin, r = divmod(int(cell), cells)
        members = by_bin[bin_starts[angle_bin]:bin_starts[angle_bin + 1]]
        on_line = members[np.abs(rho[members] - r) <= 1]
        angle = (angle_bin + 0.5) * np.pi / ANGLE_BINS
        px, py = xs[on_line], ys[on_line]
        along = -px * np.sin(angle) + py * np.cos(angle)  # position along the line
        segment = _longest_run(along)
        if segment is None or segment[1] - segment[0] < shortest:
            continue
        inside = (along >= segment[0]) & (along <= segment[1])
        mx, my = float(px[inside].mean()), float(py[inside].mean())
        if abs(np.cos(angle)) > np.cos(np.radians(35)) and y - h < my < y + 2 * h:  # near-vertical line
            sides.update(["left"] if mx < x else ["right"] if mx > x + w else [])
        if abs(np.sin(angle)) > np.cos(np.radians(35)) and x - w < mx < x + 2 * w:  # near-horizontal line
            sides.update(["top"] if my < y else ["bottom"] if my > y + h else [])
    return sides


def _shrunk(image: RGBImage) -> Image.Image:
    """The frame with its longest side at LINE_SIDE px: an integer box reduction (0.5 ms for a
    640x480 frame), then a bilinear resize only for what is left (2.6 ms when it does it all)."""
    height, width = image.shape[:2]
    picture = Image.fromarray(image)
    factor = max(1, max(height, width) // LINE_SIDE)
    if factor > 1:
        picture = picture.reduce(factor)
    scale = LINE_SIDE / max(height, width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    return picture if picture.size == size else picture.resize(size, Image.Resampling.BILINEAR)


def _percentile(values: FloatArray, percent: float) -> float:
    """np.percentile's default (linear) rule from one partial sort: a third of its time here."""
    flat = values.ravel()
    rank = percent / 100 * (flat.size - 1)
    low = int(rank)
    high = min(low + 1, flat.size - 1)
    part = np.partition(flat, [low, high])
    return float(part[low] + (part[high] - part[low]) * (rank - low))


def _longest_run(positions: FloatArray) -> tuple[float, float] | None:
    """The longest stretch of sorted positions with no gap over 3 px."""
    if positions.size < 2:
        return None
    ordered = np.sort(positions)
    breaks = np.nonzero(np.diff(ordered) > 3)[0]
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [ordered.size - 1]])
    best = int(np.argmax(ordered[ends] - ordered[starts]))
    return float(ordered[starts[best]]), float(ordered[ends[best]])


def _grey(rgb: FloatArray) -> FloatArray:
    grey: FloatArray = rgb @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    return grey


def _unit(value: float) -> float:
    return round(min(1.0, max(0.0, float(value))), 4)
