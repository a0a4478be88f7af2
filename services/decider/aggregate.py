"""Aggregation over the last ``aggregate_frames`` frames that passed the gate checks.

The rule (docs/decider.md):

* liveness, deepfake, image modification: the mean score over the window must reach its
  threshold. Liveness is required: a window without liveness evidence fails (fail closed).
  Deepfake and image modification are enforced when the estimator measured them.
* eyes, mouth, glasses: a strict majority of the window's frames must pass each, so a blink or
  a word does not undo the session, while a closed-eyes or covered-mouth recording does.

Success needs a full window; until then the session keeps collecting frames.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.decider.checks import CheckResult
from services.decider.state import WindowFrame
from shared.errors import FrameCheck
from shared.evidence import EvidenceKind
from shared.messages import EstimationMessage, EyeState, FaceAnalysis
from shared.settings import Settings, ThresholdSettings
from shared.thresholds import below


def window_frame(estimation: EstimationMessage, result: CheckResult) -> WindowFrame:
    analysis = estimation.analysis or FaceAnalysis()
    soft = set(result.soft)
    return WindowFrame(
        frame_no=estimation.frame_no,
        liveness=analysis.liveness.score if analysis.liveness else None,
        deepfake=analysis.deepfake.score if analysis.deepfake else None,
        image_modification=analysis.image_modification.score if analysis.image_modification else None,
        eyes_ok=None if analysis.eyes is None else FrameCheck.EYES_CLOSED not in soft,
        mouth_ok=None if analysis.mouth is None else not soft & {FrameCheck.MOUTH_OPEN, FrameCheck.MOUTH_OCCLUDED},
        glasses_ok=None if analysis.eyeglasses is None
        else not soft & {FrameCheck.EYEGLASSES, FrameCheck.SUNGLASSES},
        shot_score=shot_score(analysis, result),
    )


def shot_score(analysis: FaceAnalysis, result: CheckResult) -> float:
    """Best-shot quality: AGS when measured, else mean image quality times detection score.
    A frame with both eyes closed never becomes the best shot."""
    if analysis.eyes is not None and analysis.eyes.left is EyeState.CLOSED and analysis.eyes.right is EyeState.CLOSED:
        return -1.0
    if analysis.ags is not None:
        return analysis.ags
    detection = result.face.score if result.face else 0.0
    quality = analysis.image_quality
    if quality is None:
        return detection
    mean = (quality.blur + quality.light + quality.darkness + quality.illumination + quality.specularity) / 5
    return mean * detection


def aggregate_failures(window: Sequence[WindowFrame], settings: Settings) -> list[FrameCheck]:
    limits = settings.thresholds
    failures = []
    for name, code in (("eyes_ok", FrameCheck.EYES_CLOSED), ("mouth_ok", FrameCheck.MOUTH_OPEN),
                       ("glasses_ok", FrameCheck.EYEGLASSES)):
        votes = [getattr(frame, name) for frame in window if getattr(frame, name) is not None]
        if votes and sum(votes) * 2 <= len(votes):
            failures.append(code)
    failures += _mean_failures(window, limits)
    return failures


def _mean_failures(window: Sequence[WindowFrame], limits: ThresholdSettings) -> list[FrameCheck]:
    failures = []
    for name, threshold, code, required in (
        (EvidenceKind.LIVENESS, limits.liveness, FrameCheck.LIVENESS_FAILED, True),
        (EvidenceKind.DEEPFAKE, limits.deepfake, FrameCheck.DEEPFAKE, False),
        (EvidenceKind.IMAGE_MODIFICATION, limits.image_modification, FrameCheck.IMAGE_MODIFIED, False),
    ):
        if threshold is None:
            continue
        scores = [getattr(frame, name) for frame in window if getattr(frame, name) is not None]
        if not scores:
            if required:
                failures.append(code)
            continue
        if below(sum(scores) / len(scores), threshold):
            failures.append(code)
    return failures
