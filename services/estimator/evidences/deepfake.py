"""Deepfake evidence from per-frame face-swap artefacts: the swapped region's texture and
frequency content against the rest of the frame.

A measured heuristic, not a trained model (``source`` says so). A face swap (Deepfakes,
FaceSwap, DFDC, SimSwap) renders the inner face at the generator's resolution, resizes it and
blends it into the target frame inside a mask close to the convex hull of the jaw line and the
eyebrows. The cues compare that hull (from the 468 mesh landmarks) with its surroundings, at the
frame's own resolution, on the luminance:

* ``frequency``: the share of detail in the top octave, ``t = mean|lap(g)| / mean|lap(g/2)|``
  (Laplacian at full resolution over the Laplacian of the 2x box-downsampled image), in the
  core of the hull (scaled 0.7 about its centroid) against a ring outside it (hull scaled 1.15 to
  1.8). ``x = abs(log(t_core / t_ring))``: a resampled or generated face carries a different
  amount of finest detail than the camera's image around it, smoother (Deepfakes) or sharper
  (FaceSwap, some DFDC). Medians: 0.015-0.03 on the FF++ / DFDC originals, 0.06-0.09 on two
  webcams, 0.04-0.18 on the swaps. Cue ``1 - (x - 0.08) / 0.17`` (0.08 -> 1, 0.25 -> 0).
* ``blending``: texture of the core against the band just inside the mask edge (hull minus hull
  scaled 0.85), ``y = abs(log(mean|lap| core / mean|lap| band))``: blending smooths or sharpens
  that band against the face it surrounds. 0.05-0.4 on genuine media, 0.7 on FF++ Deepfakes.
  Cue ``1 - (y - 0.3) / 0.5`` (0.3 -> 1, 0.8 -> 0).

Combination (noisy-OR of risks): ``score = prod(1 - w * (1 - cue))`` with weights frequency 0.6,
blending 0.4: one cue alone takes the score to at most 0.4 / 0.6. Measured and left out (no signal
across media, see docs/evidence.md): colour (Cb/Cr) of the core against the forehead or across
the mask edge, and texture of the core against the forehead (strong on three FF++ pairs, but
inverted on FaceSwap and lower on genuine webcams than on the fakes).

It cannot see: reenactment that keeps the target's own face and re-renders the mouth
(NeuralTextures, Face2Face: no signal), swaps compressed hard enough that the face and the frame
share the codec's blur, whole-frame synthesis (no "outside" to compare with), and injected
streams. Genuine frames are moved by make-up, beards, hair over the face, a blurred background
and denoisers that treat the face differently from the rest. Without landmarks it returns the
neutral 0.5 with cue ``no_landmarks`` = 0.

Temporal: ``temporal_jitter``, the session's running landmark jitter (median of its last 8
frames' second differences after similarity alignment, services/estimator/temporal.py), mapped
``1 - (j - 0.02) / 0.04``, is reported among the cues but has weight 0: it is not in the score.
Measured on the same media (docs/evidence.md): pair AUC 0.40 (FF++ Deepfakes, inverted), 0.62
(FaceSwap), 0.49 (NeuralTextures), 0.72 (DFDC); it flagged 2 of the 3 DFDC fakes, but also a
genuine webcam with motion blur and a hand over the face (a third of its frames under 0.5 once
combined), which the blending cues never do. Identity change between frames (SFace) was no better
(pair AUC 0.28-0.71) and costs a descriptor per frame; it is not computed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from services.estimator.evidence import EvidenceInput
from services.estimator.model import RGBImage
from shared.messages import EvidenceScore, Rect

SOURCE = "heuristic:face-blending"
NEUTRAL = 0.5
WEIGHTS = {"frequency": 0.6, "blending": 0.4}
# MediaPipe face-mesh indices: the jaw line from one temple to the other through the chin, then
# the upper edge of both eyebrows back: an ordered, nearly convex outline of the swap mask.
JAW = (454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234)
BROWS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
OUTLINE = JAW + BROWS
FAR = 1.8  # the outer edge of the ring around the hull, as a scale about its centroid
# Running landmark jitter (IODs, services/estimator/temporal.py) read as 1 (clean) and 0 (shaking).
JITTER_CLEAN, JITTER_FAKE = 0.02, 0.06
FloatArray = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


class DeepfakeEvidence:
    name = "deepfake"

    def estimate(self, item: EvidenceInput) -> EvidenceScore:
        if item.landmarks is None:
            return EvidenceScore(score=NEUTRAL, source=f"{SOURCE}:not-applicable", cues={"no_landmarks": 0.0})
        cues = cue_values(measure(item.image, item.face.box, item.landmarks))
        score = float(np.prod([1 - WEIGHTS[k] * (1 - v) for k, v in cues.items()]))
        if item.temporal_jitter is not None:
            # Reported, not combined (weight 0): see "temporal" in the module docstring.
            cues["temporal_jitter"] = _unit(1 - (item.temporal_jitter - JITTER_CLEAN) / (JITTER_FAKE - JITTER_CLEAN))
        return EvidenceScore(score=round(score, 4), source=SOURCE, cues=cues)


def cue_values(measured: dict[str, float]) -> dict[str, float]:
    """Raw measurements -> cues in [0, 1], 1 = looks genuine (thresholds in the docstring)."""
    return {
        "frequency": _unit(1 - (measured["frequency_log_ratio"] - 0.08) / 0.17),
        "blending": _unit(1 - (measured["blending_log_ratio"] - 0.3) / 0.5),
    }


def measure(image: RGBImage, box: Rect, landmarks: npt.NDArray[np.float32]) -> dict[str, float]:
    """``frequency_log_ratio`` and ``blending_log_ratio``, both >= 0 (0 = face like its surroundings)."""
    x0, y0, x1, y1 = _window(image.shape, box, landmarks)
    crop = image[y0:y1, x0:x1]
    grey: FloatArray = crop.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], dtype=np.float32)
    outline = landmarks[list(OUTLINE), :2].astype(np.float64) - (x0, y0)
    centre = outline.mean(axis=0)

    def region(scale: float) -> Mask:
        return _polygon(grey.shape, centre + (outline - centre) * scale)

    mask = region(1.0)
    core, inner, outer, far = region(0.7), region(0.85), region(1.15), region(FAR)
    fine = _abs_laplacian(grey)
    rows, cols = grey.shape[0] // 2 * 2, grey.shape[1] // 2 * 2
    # The 2x2 box mean, summed in the order NumPy's mean over the block axes does (so the same
    # float32 values) but ~13x faster than that reduction.
    half = np.asarray(((grey[0:rows:2, 0:cols:2] + grey[0:rows:2, 1:cols:2])
                       + (grey[1:rows:2, 0:cols:2] + grey[1:rows:2, 1:cols:2])) / np.float32(4), dtype=np.float32)
    coarse = np.zeros_like(grey)
    coarse[:rows, :cols] = np.repeat(np.repeat(_abs_laplacian(half), 2, axis=0), 2, axis=1)
    ring = far & ~outer
    band = mask & ~inner

    def top_octave(where: Mask) -> float:
        return float(fine[where].mean() + 1e-3) / float(coarse[where].mean() + 1e-3) if where.any() else 1.0

    def detail(where: Mask) -> float:
        return float(fine[where].mean()) + 1e-3 if where.any() else 1.0

    return {"frequency_log_ratio": abs(float(np.log(top_octave(core) / top_octave(ring)))),
            "blending_log_ratio": abs(float(np.log(detail(core) / detail(band))))}


def _window(shape: tuple[int, ...], box: Rect, landmarks: npt.NDArray[np.float32]) -> tuple[int, int, int, int]:
    """The pixels measure() works on: the face box grown by one box on each side, cut down to the
    widest region it reads (the hull scaled FAR about its centroid) plus a margin.

    The cut keeps every value inside that region the same as on the whole grown box: the origin
    moves by an even number of pixels (the 2x2 downsampling keeps its grid) and the margin (4 px)
    covers both Laplacians' neighbours, so only pixels no region reads are dropped (about 60 % of
    the grown box, most of the stage's cost).
    """
    height, width = shape[:2]
    x0, y0 = int(max(0, box.x - box.width)), int(max(0, box.y - box.height))
    x1, y1 = int(min(width, box.x + 2 * box.width)), int(min(height, box.y + 2 * box.height))
    x1, y1 = max(x1, x0 + 8), max(y1, y0 + 8)
    outline = landmarks[list(OUTLINE), :2].astype(np.float64)
    centre = outline.mean(axis=0)
    far = centre + (outline - centre) * FAR
    (left, top), (right, bottom) = np.floor(far.min(axis=0)) - 4, np.ceil(far.max(axis=0)) + 5
    cut_x0 = x0 + max(0, int(left) - x0) // 2 * 2
    cut_y0 = y0 + max(0, int(top) - y0) // 2 * 2
    cut_x1, cut_y1 = min(x1, max(int(right), cut_x0 + 8)), min(y1, max(int(bottom), cut_y0 + 8))
    return cut_x0, cut_y0, cut_x1, cut_y1


def _polygon(shape: tuple[int, ...], points: npt.NDArray[np.float64]) -> Mask:
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(canvas).polygon([(float(x), float(y)) for x, y in points], fill=1)
    mask: Mask = np.asarray(canvas, dtype=bool)
    return mask


def _abs_laplacian(grey: FloatArray) -> FloatArray:
    out = np.zeros_like(grey)
    out[1:-1, 1:-1] = np.abs(4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2]
                             - grey[1:-1, 2:])
    return out


def _unit(value: float) -> float:
    return round(min(1.0, max(0.0, float(value))), 4)
