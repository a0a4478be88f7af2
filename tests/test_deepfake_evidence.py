"""DeepfakeEvidence (face-blending heuristic) on real media: figures and failures in
docs/evidence.md (`python -m load.eval_evidence` prints them). Only what the measurements support is
asserted: the swaps of FF++ 519 (Deepfakes), 634 (FaceSwap) and the DFDC fakes score below their
genuine clips; NeuralTextures (reenactment) is not separated and is not asserted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from load.eval_evidence import build_mesh, deepfake_scores
from services.estimator.evidence import EvidenceInput
from services.estimator.evidences.deepfake import NEUTRAL, SOURCE, DeepfakeEvidence, cue_values
from services.estimator.models.face_mesh import FaceMeshModel
from services.estimator.models.yunet import YuNetDetector
from shared.messages import EvidenceScore, Face, Rect

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "var" / "models"
DF = "deepfake_polimi_icpr2020dfdc/"
FRAMES = 12


@pytest.fixture(scope="module")
def mesh() -> FaceMeshModel:
    return build_mesh(MODELS)


def mean_score(scores: list[EvidenceScore]) -> float:
    assert scores, "no face found"
    return float(np.mean([s.score for s in scores]))


def test_cues_are_clipped_to_unit_range() -> None:
    assert cue_values({"frequency_log_ratio": 0.0, "blending_log_ratio": 0.0}) == {"frequency": 1.0, "blending": 1.0}
    assert cue_values({"frequency_log_ratio": 5.0, "blending_log_ratio": 5.0}) == {"frequency": 0.0, "blending": 0.0}


def test_without_landmarks_it_abstains() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    face = Face(box=Rect(x=200, y=150, width=160, height=200), keypoints=((0.0, 0.0),) * 5, score=0.9)
    result = DeepfakeEvidence().estimate(EvidenceInput(image, face, b""))
    assert result.score == NEUTRAL
    assert result.source == f"{SOURCE}:not-applicable"


@pytest.mark.parametrize(("genuine", "fakes"), [
    (DF + "ffpp_original__519.mp4", [DF + "ffpp_Deepfakes__519_515.mp4"]),
    (DF + "ffpp_original__634.mp4", [DF + "ffpp_FaceSwap__634_660.mp4"]),
    (DF + "lynaeydofd.mp4", [DF + "dfdc_train_part_0__brtujopkby.mp4", DF + "dfdc_train_part_10__widuwuoiur.mp4",
                             DF + "dfdc_train_part_10__yhffcuhhjy.mp4"]),
])
def test_swaps_score_below_their_genuine_clip(detector: YuNetDetector, mesh: FaceMeshModel, data_dir: Path,
                                              genuine: str, fakes: list[str]) -> None:
    real = deepfake_scores(detector, mesh, data_dir, genuine, FRAMES)
    for score in real:
        assert score.source == SOURCE
        assert 0.0 <= score.score <= 1.0
        assert all(0.0 <= v <= 1.0 for v in score.cues.values())
    assert mean_score(real) >= 0.95
    for fake in fakes:
        assert mean_score(deepfake_scores(detector, mesh, data_dir, fake, FRAMES)) < mean_score(real) - 0.05, fake


def test_genuine_webcam_scores_high(detector: YuNetDetector, mesh: FaceMeshModel, data_dir: Path) -> None:
    scores = deepfake_scores(detector, mesh, data_dir, "pad_replay_tranvanluyt/videos__real.mp4", FRAMES)
    assert len(scores) == FRAMES
    assert mean_score(scores) >= 0.9
    assert min(s.score for s in scores) >= 0.7
