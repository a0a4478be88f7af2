"""FaceMatcher: the same face from the first frame to the last.

Remembers the session's first main-face descriptor (SFace, 128-D, L2-normalised) and compares
each later frame's with it and with the previous frame's. Similarity maps the cosine to [0, 1]
with ``1 / (1 + exp(-15 (cos - 0.45)))``, calibrated on real photos (docs/plugins.md): the same
person (cosine >= 0.69) scores >= 0.97, different people (cosine <= 0.32) <= 0.13, and the
default threshold ``session.previous_face_similarity = 0.85`` sits at cosine 0.566. Below the
threshold against either reference, the session ends with code 80 (close 4004).
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from services.plugins.plugin import SessionMemory, Verdict
from shared.errors import FrameCheck
from shared.messages import EstimationMessage, PluginVerdict
from shared.plugins import FACE_MATCHER
from shared.settings import Settings


class MatcherMemory(BaseModel):
    first: list[float]
    previous: list[float]


def similarity(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    cosine = sum(x * y for x, y in zip(a, b, strict=True))
    return 1 / (1 + math.exp(-15 * (cosine - 0.45)))


class FaceMatcher:
    name = FACE_MATCHER

    def __init__(self, settings: Settings) -> None:
        threshold = settings.session.previous_face_similarity
        self.threshold = threshold if threshold is not None else 0.0

    async def evaluate(self, estimation: EstimationMessage, memory: SessionMemory) -> Verdict:
        analysis = estimation.analysis
        descriptor = analysis.descriptor if analysis else None
        if descriptor is None:
            # Nothing to compare: no success on this frame, but nothing against the person either.
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
