"""Image-modification evidence from JPEG forensics on the frame's own bytes.

A measured heuristic, not a trained model (``source`` says so). It reads the frame exactly as
received (``EvidenceInput.encoded``) and compares the face with the ring around it (the face box
grown by half its size on each side), in 8x8 JPEG blocks of the luminance:

* ``double_compression``: the JPEG ghost (Farid 2009). The region is re-saved at qualities
  50..q-6 (q = its own quality, read from the quantisation table), in the DCT domain
  (``_requantisation_errors``: the same errors without an encode per quality); a part that was compressed
  before at quality q1 shows a sharp dip of the re-save error at q1. ``dip`` = error at the
  deepest quality / mean error 2 steps either side, in the face or the ring (1 = no dip).
  Single-compressed images gave 0.88-1.0; 6 of 10 edited psbattles JPEGs 0.24-0.77, their
  originals 0.88-0.98 except one (0.29). A genuine camera frame that was re-encoded (MJPEG webcam,
  a relay) is double-compressed too: a weak cue.
* ``ghost_consistency``: where a dip exists (< 0.92), the face's own dip against the ring's; an
  edit pasted into a re-saved photo lacks the ghost the rest carries (or the reverse). Measured
  |face - ring|: 0.00-0.03 on every unedited image, 0.10-0.34 on 5 of 10 edited ones.
* ``ela``: error-level analysis, re-save at ``ela_quality`` (90); |log(median face block error /
  median ring block error)|. Weak (AUC 0.64 / 0.45): its level follows texture and the file's own
  quality, and a frame saved near q90 re-saves almost unchanged (the cue then reads 1).
* Noise-residual level (face vs ring) was measured and left out: AUC 0.54 / 0.62, no signal.

Each cue is in [0, 1], 1 = looks unmodified. Combination (noisy-OR of risks): ``score =
prod(1 - w * (1 - cue))`` with weights ghost 0.9, double 0.35, ela 0.2: a ghost inconsistency
alone takes the score to 0.1, double compression alone to 0.65. Per-media figures, failures
included, in docs/evidence.md. It cannot see: edits saved as PNG or re-encoded by the browser
(the page's canvas re-encodes every frame, which erases earlier traces unless the edit was a
same-size JPEG), retouching spread over the whole frame, or a face-parts splice saved once (the
face_parts_photoshop_rff set: no signal). A PNG frame returns the neutral score 0.5 with the cue
``not_jpeg`` = 0.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image

from services.estimator.evidence import EvidenceInput
from shared.jpeg_tables import QUALITIES, STD_LUMINANCE, ijg_table
from shared.messages import EvidenceScore, Rect

SOURCE = "heuristic:jpeg-forensics"
NEUTRAL = 0.5
WEIGHTS = {"ghost_consistency": 0.9, "double_compression": 0.35, "ela": 0.2}
BLOCK = 8
# A file's own quality: the IJG quality whose scaled luminance table has the same sum.
_SUMS = {q: sum(ijg_table(STD_LUMINANCE, q)) for q in QUALITIES}
# EXIF orientation -> the numpy op PIL's exif_transpose applies (checked against Image.transpose).
_UPRIGHT = {2: lambda m: m[:, ::-1], 3: lambda m: m[::-1, ::-1], 4: lambda m: m[::-1], 5: lambda m: m.T,
            6: lambda m: np.rot90(m, -1), 7: lambda m: m[::-1, ::-1].T, 8: lambda m: np.rot90(m, 1)}
Blocks = npt.NDArray[np.float32]


class ImageModificationEvidence:
    name = "image_modification"

    def __init__(self, *, ela_quality: int = 90, ghost_min_quality: int = 50, ghost_step: int = 2) -> None:
        self.ela_quality, self.ghost_min_quality, self.ghost_step = ela_quality, ghost_min_quality, ghost_step

    def estimate(self, item: EvidenceInput) -> EvidenceScore:
        measured = self.measure(item.encoded, item.face.box)
        if measured is None:
            return EvidenceScore(score=NEUTRAL, source=f"{SOURCE}:not-applicable", cues={"not_jpeg": 0.0})
        cues = cue_values(measured)
        score = float(np.prod([1 - WEIGHTS[k] * (1 - v) for k, v in cues.items()]))
        return EvidenceScore(score=round(score, 4), source=SOURCE, cues=cues)

    def measure(self, encoded: bytes, box: Rect) -> dict[str, float] | None:
        """Raw measurements (``dip``, ``face_dip``, ``ring_dip``, ``ela_log_ratio``); None if not JPEG."""
        if not encoded.startswith(b"\xff\xd8"):
            return None
        with Image.open(io.BytesIO(encoded)) as image:
            tables = getattr(image, "quantization", None) or {0: [1] * 64}
            orientation = image.getexif().get(0x0112, 1)
            grey = np.asarray(image.convert("L"))
        own = min(_SUMS, key=lambda q: abs(_SUMS[q] - sum(tables[0])))
        upright = _UPRIGHT.get(orientation)
        if upright is None:
            # Camera frames carry no EXIF rotation: work on the face and its ring only, cut on the
            # 8-px grid so the re-saves keep the original block alignment.
            x0 = max(0, int(box.x - box.width / 2)) // BLOCK * BLOCK
            y0 = max(0, int(box.y - box.height / 2)) // BLOCK * BLOCK
            grey = grey[y0:int(box.y + 1.5 * box.height) + BLOCK, x0:int(box.x + 1.5 * box.width) + BLOCK]
            box = Rect(x=box.x - x0, y=box.y - y0, width=box.width, height=box.height)
            upright = _same
        ela = upright(_block_error(grey, self.ela_quality, squared=False))
        face, ring = _masks(ela.shape, box)
        out = {"quality": float(own), "dip": 1.0, "face_dip": 1.0, "ring_dip": 1.0,
               "ela_log_ratio": float(abs(np.log((np.median(ela[face]) + 0.05) / (np.median(ela[ring]) + 0.05))))}
        qualities = list(range(self.ghost_min_quality, own - 5, self.ghost_step))
        if len(qualities) < 5:
            return out  # saved at low quality: no room below it for a ghost
        errors = np.stack([upright(e) for e in _requantisation_errors(grey, qualities)])
        # The deepest dip of either region: an edit may carry the ghost (pasted from a JPEG) or
        # erase it (painted into a re-saved photo).
        best = (2.0, 0)
        for mask in (face, ring):
            curve = errors[:, mask].mean(axis=1)
            ratios = curve[2:-2] / (0.5 * (curve[:-4] + curve[4:]) + 1e-6)
            best = min(best, (float(ratios.min()), int(np.argmin(ratios)) + 2))
        out["dip"], deepest = best
        reference = 0.5 * (errors[deepest - 2] + errors[deepest + 2])
        for key, mask in (("face_dip", face), ("ring_dip", ring)):
            out[key] = float(errors[deepest][mask].mean() / (reference[mask].mean() + 1e-6))
        return out


def cue_values(measured: dict[str, float]) -> dict[str, float]:
    """Map raw measurements to cues in [0, 1] (1 = looks unmodified); thresholds in the docstring."""
    double = _unit((measured["dip"] - 0.5) / 0.35)
    # Only a double-compressed image has a ghost to compare; elsewhere the cue abstains (1).
    gap = abs(measured["face_dip"] - measured["ring_dip"]) if measured["dip"] < 0.92 else 0.0
    return {
        "ghost_consistency": _unit(1 - (gap - 0.03) / 0.12),
        "double_compression": double,
        "ela": _unit(1 - (measured["ela_log_ratio"] - 0.3) / 0.7),
    }


def _same(blocks: Blocks) -> Blocks:
    return blocks


def _tables(qualities: list[int]) -> npt.NDArray[np.float32]:
    """libjpeg's luminance tables at these qualities (jpeg_set_quality, baseline), (Q, 8, 8)."""
    tables = np.array([ijg_table(STD_LUMINANCE, q) for q in qualities], dtype=np.float32)
    return tables.reshape(-1, 8, 8)


# The orthonormal 8-point DCT-II: JPEG's forward DCT is exactly D @ block @ D.T.
_DCT = np.array([[np.sqrt((1 if u == 0 else 2) / 8) * np.cos((2 * x + 1) * u * np.pi / 16) for x in range(8)]
                 for u in range(8)], dtype=np.float32)


def _requantisation_errors(grey: npt.NDArray[np.uint8], qualities: list[int]) -> list[Blocks]:
    """The mean squared error of each 8x8 block after a re-save at each quality, in the DCT domain.

    Re-saving re-quantises every block's DCT coefficients with the quality's table; the DCT is
    orthonormal, so the squared pixel error equals the squared coefficient error (Parseval), and
    the decoder's rounding to whole pixel values adds 1/12 on average. One DCT serves every quality
    instead of a JPEG encode and decode per quality (18 of them at q90). A coefficient smaller
    than half of every table's step rounds to 0 at every quality and always costs its own square:
    that part is summed once, and only the other coefficients (a fraction on a camera frame) are
    re-quantised per quality. Against real re-saves (libjpeg's integer DCT, clipping at 0 and 255)
    the curves differ by a few per cent; docs/evidence.md has the tables before and after.
    """
    rows, cols = grey.shape[0] // BLOCK, grey.shape[1] // BLOCK
    pixels = grey[:rows * BLOCK, :cols * BLOCK].astype(np.float32) - 128
    blocks = pixels.reshape(rows, BLOCK, cols, BLOCK).transpose(0, 2, 1, 3)  # (rows, cols, y, x)
    # D @ block @ D.T for every block, as stacked 8x8 products: 0.3 ms for 1600 blocks, where one
    # big GEMM (kron(D, D)) took 4.5 ms once OpenBLAS spread it over the busy cores.
    coefficients = (_DCT @ blocks @ _DCT.T).reshape(rows * cols, 64)
    tables = _tables(qualities).reshape(len(qualities), 64)
    smallest = tables.min(axis=0)
    active = np.abs(coefficients) >= smallest / 2
    constant = np.where(active, 0, coefficients * coefficients).sum(axis=1)
    block_of, frequency = np.nonzero(active)
    values = coefficients[block_of, frequency]
    errors: list[Blocks] = []
    for table in tables:
        step = table[frequency]
        residue = values / step
        residue -= np.rint(residue)
        residue *= step
        energy = constant + np.bincount(block_of, weights=residue * residue, minlength=rows * cols)
        errors.append((energy / 64 + 1 / 12).astype(np.float32).reshape(rows, cols))
    return errors


def _block_error(grey: npt.NDArray[np.uint8], quality: int, *, squared: bool) -> Blocks:
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="JPEG", quality=quality)
    with Image.open(buffer) as again:
        diff = grey.astype(np.float32) - np.asarray(again, dtype=np.float32)
    err = diff * diff if squared else np.abs(diff)
    h, w = (grey.shape[0] // BLOCK) * BLOCK, (grey.shape[1] // BLOCK) * BLOCK
    blocks: Blocks = err[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3))
    return blocks


def _masks(shape: tuple[int, ...], box: Rect) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Blocks inside the face box, and the ring around it (the whole rest if the ring is empty)."""
    rows, cols = shape[0], shape[1]

    def span(start: float, size: float, limit: int) -> slice:
        first = int(start // BLOCK)
        return slice(max(0, first), min(limit, max(first + 1, int((start + size) // BLOCK))))

    face = np.zeros((rows, cols), bool)
    face[span(box.y, box.height, rows), span(box.x, box.width, cols)] = True
    ring = np.zeros((rows, cols), bool)
    ring[span(box.y - box.height / 2, 2 * box.height, rows), span(box.x - box.width / 2, 2 * box.width, cols)] = True
    ring &= ~face
    if ring.sum() < 4:
        ring = ~face
    if not face.any() or not ring.any():
        face = ring = np.ones((rows, cols), bool)  # a frame smaller than a few blocks: nothing to compare
    return face, ring


def _unit(value: float) -> float:
    return round(min(1.0, max(0.0, float(value))), 4)
