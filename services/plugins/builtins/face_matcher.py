"""FaceMatcher: the same face from the first frame to the last.

Remembers the session's first near-frontal main-face descriptor (SFace, 128-D, L2-normalised)
and compares each later near-frontal frame's with it and with the previous one's. Similarity maps
the cosine to [0, 1] with ``1 / (1 + exp(-12 (cos - 0.35)))``; the default threshold
``session.previous_face_similarity = 0.85`` sits at cosine 0.495. Measured (docs/plugins.md):
frontal frames of one person in one video 0.74-0.94 (similarity >= 0.94), photos of one person
years apart 0.54-0.81, different people -0.06-0.30 (similarity <= 0.36). Turned faces are not
compared: the same person at 20-60 degrees of yaw fell to cosine 0.37-0.49 against their own
frontal frame, which would end genuine sessions in the middle of a head-turn challenge.
Below the threshold, the session ends with code 80 (close 4004).
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from shared.api import EstimationMessage, FrameCheck, PluginVerdict, SessionMemory, Settings, Verdict
from shared.plugins import FACE_MATCHER, face_matcher_compares


class MatcherMemory(BaseModel):
    first: list[float]
    previous: list[float]


def similarity(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    cosine = sum(x * y for x, y in zip(a, b, strict=True))
    return 1 / (1 + math.exp(-12 * (cosine - 0.35)))


class FaceMatcher:
    name = FACE_MATCHER

    def __init__(self, settings: Settings) -> None:
        threshold = settings.session.previous_face_similarity
        self.threshold = threshold if threshold is not None else 0.0

    async def evaluate(self, estimation: EstimationMessage, memory: SessionMemory) -> Verdict:
        analysis = estimation.analysis
        pose = analysis.head_pose if analysis else None
        if pose is not None and not face_matcher_compares(pose):
            return Verdict(PluginVerdict.PASS, details={"turned_not_compared": 1.0})
        descriptor = analysis.descriptor if analysis else None
        if descriptor is None:
            # Not compared (the estimator describes every estimator.descriptor_every-th frontal frame):
            # no success on this frame, so a session only succeeds on a frame whose face was compared,
            # but nothing against the person either.
            return Verdict(PluginVerdict.PENDING, details={"no_descriptor": 1.0})
        state = await memory.load(MatcherMemory)
        current = list(descriptor)
        if state is None:
            await memory.save(MatcherMemory(first=current, previous=current))
            return Verdict(PluginVerdict.PASS, details={"similarity_first": 1.0, "similarity_previous": 1.0})
        to_first, to_previous = similarity(state.first, current), similarity(state.previous, current)
        details = {"similarity_first": round(to_first, 4), "similarity_previous": round(to_previous, 4)}
        if min(to_first, to_previous) < self.threshold:
            return Verdict(PluginVerdict.END, codes=(FrameCheck.FACE_CHANGED,), details=details)
        await memory.save(MatcherMemory(first=state.first, previous=current))
        return Verdict(PluginVerdict.PASS, details=details)
