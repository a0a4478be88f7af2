"""The kinds of evidence a frame is scored for, one name each: the estimator's evidence slots
(services/estimator/main.py) and their timing stages (shared/stages.py), the analysis and report
fields they fill (shared/messages.py), their thresholds (``thresholds.<kind>``) and the decider's
mean over its window (services/decider/aggregate.py). Replies and tokens write a kind by its
``alias`` (the baseline protocol's camelCase); tests/test_messages.py checks these agree."""

from __future__ import annotations

from enum import StrEnum


class EvidenceKind(StrEnum):
    LIVENESS = "liveness"
    DEEPFAKE = "deepfake"
    IMAGE_MODIFICATION = "image_modification"

    @property
    def alias(self) -> str:
        """The kind in JSON replies and tokens: ``imageModification`` for ``image_modification``."""
        first, *rest = self.value.split("_")
        return first + "".join(word.capitalize() for word in rest)
