"""Following the face with the mesh between detections (services/estimator/tracking.py): the
anchor's geometry, when the detector is due, and the worker on a real video."""

from __future__ import annotations

import io
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from PIL import Image
from redis.asyncio import Redis

from load.bench_roundtrip import VIDEOS, load_frames
from services.estimator.analysis import FaceAnalyser
from services.estimator.models.face_mesh import FaceMeshModel
from services.estimator.models.yunet import YuNetDetector
from services.estimator.parallax import Reference
from services.estimator.temporal import Track
from services.estimator.tracking import FaceTracker, anchor_for, carried
from services.estimator.worker import EstimatorWorker
from shared.keys import Keys
from shared.live_settings import LiveSettings
from shared.messages import EstimationMessage, Face, FrameMessage, ImageType, Rect
from shared.stored import FaceAnchor
from tests import media
from tests.conftest import ESTIMATOR

WIDTH, HEIGHT = 640, 480
FACE = Face(box=Rect(x=250, y=150, width=140, height=170),
            keypoints=((290, 220), (350, 220), (320, 260), (295, 290), (345, 290)), score=0.93)


def landmarks(shift: tuple[float, float] = (0, 0), scale: float = 1.0) -> np.ndarray:
    """468 points spread over the face box (a stand-in mesh), moved and scaled."""
    rng = np.random.default_rng(7)
    points = rng.uniform((265, 165, -20), (375, 315, 20), size=(468, 3)).astype(np.float32)
    centre = np.array([320, 240, 0], np.float32)
    return (points - centre) * scale + centre + np.array([*shift, 0], np.float32)


def box_of(face: Face) -> tuple[float, ...]:
    return face.box.x, face.box.y, face.box.width, face.box.height


def test_the_anchor_gives_the_detectors_face_back_on_its_own_landmarks() -> None:
    anchor = anchor_for(FACE, (), landmarks(), frame_no=4)
    face = carried(anchor, landmarks(), WIDTH, HEIGHT)
    assert face is not None
    assert box_of(face) == pytest.approx(box_of(FACE), abs=1e-3)
    assert np.asarray(face.keypoints) == pytest.approx(np.asarray(FACE.keypoints), abs=1e-3)
    assert face.score == FACE.score


def test_the_anchored_face_moves_and_scales_with_the_landmarks() -> None:
    anchor = anchor_for(FACE, (), landmarks(), frame_no=4)
    face = carried(anchor, landmarks(shift=(30, -10), scale=1.2), WIDTH, HEIGHT)
    assert face is not None
    cx, cy = FACE.box.x + FACE.box.width / 2, FACE.box.y + FACE.box.height / 2
    centre = (cx - 320) * 1.2 + 320 + 30, (cy - 240) * 1.2 + 240 - 10
    assert (face.box.x + face.box.width / 2, face.box.y + face.box.height / 2) == pytest.approx(centre, abs=1e-3)
    assert (face.box.width, face.box.height) == pytest.approx((FACE.box.width * 1.2, FACE.box.height * 1.2), abs=1e-3)


def test_a_face_whose_centre_left_the_frame_is_not_carried() -> None:
    anchor = anchor_for(FACE, (), landmarks(), frame_no=4)
    assert carried(anchor, landmarks(shift=(400, 0)), WIDTH, HEIGHT) is None


def reference(track_frame: int, detected_at: int | None) -> Reference:
    anchor = None if detected_at is None else anchor_for(FACE, (), landmarks(), detected_at)
    points = landmarks()[:, :2]
    return Reference(points, 0.0, 0.0, Track(track_frame, (points, points), (), anchor))


@pytest.mark.parametrize(("frame_no", "track_frame", "detected_at", "every", "follows"), [
    (5, 4, 4, 3, True),  # the frame after a detection
    (6, 5, 4, 3, True),  # two after
    (7, 6, 4, 3, False),  # three after: the detector is due
    (6, 4, 4, 3, False),  # a gap (frame 5 was not analysed)
    (5, 4, None, 3, False),  # no anchor yet
    (5, 4, 4, 1, False),  # tracking off
])
def test_when_the_detector_is_due(frame_no: int, track_frame: int, detected_at: int | None, every: int,
                                  follows: bool) -> None:
    tracker = FaceTracker(cast(FaceMeshModel, None), every)
    predicted = tracker.prediction(frame_no, reference(track_frame, detected_at), WIDTH, HEIGHT)
    assert (predicted is not None) is follows
    assert tracker.prediction(frame_no, None, WIDTH, HEIGHT) is None


def worker(detector: YuNetDetector, analyser: FaceAnalyser) -> EstimatorWorker:
    # analyse_all never touches Redis (only handle does): no client.
    return EstimatorWorker(cast(Redis, None), Keys("t"), LiveSettings(cast(Redis, None), Keys("t"), ESTIMATOR),
                           detector, analyser)


def play(run: EstimatorWorker, frames: list[bytes]) -> list[EstimationMessage]:
    """One session's frames in order, its memory carried from frame to frame as ``handle`` does."""
    references: dict[str, Reference] = {}
    out = []
    for number, image in enumerate(frames, start=1):
        frame = FrameMessage(session_id="s", request_id=f"r{number}", frame_no=number, received_at=0.0,
                             content_type=ImageType.JPEG, image=image, width=WIDTH, height=HEIGHT)
        estimations, updated = run.analyse_all([frame], references)
        references.update(updated)
        out += estimations
    return out


def iou(a: Rect, b: Rect) -> float:
    w = max(0.0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
    h = max(0.0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
    return w * h / (a.width * a.height + b.width * b.height - w * h)


def blank_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (WIDTH, HEIGHT), (90, 90, 90)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_the_worker_detects_every_third_frame_and_follows_the_face_between(
        detector: YuNetDetector, analyser: FaceAnalyser, data_dir: Path) -> None:
    assert ESTIMATOR.estimator.detect_every == 3
    frames, _ = load_frames(data_dir, len(VIDEOS) * 12)
    genuine = frames[:12]  # the first half: consecutive frames of the first genuine video
    estimations = play(worker(detector, analyser), genuine)
    detected = [e.frame_no for e in estimations if "detect" in e.timings]
    assert detected == [1, 4, 7, 10]
    for estimation, image in zip(estimations, genuine, strict=True):
        assert estimation.analysis is not None
        assert estimation.main_face is not None
        # Where the detector would have put the face on the same frame.
        pixels = np.asarray(Image.open(io.BytesIO(image)).convert("RGB"))
        truth = max(detector.detect(pixels), key=lambda f: f.box.width * f.box.height)
        assert iou(estimation.faces[estimation.main_face].box, truth.box) > 0.75, estimation.frame_no


def test_a_lost_face_runs_the_detector_on_the_same_frame(detector: YuNetDetector, analyser: FaceAnalyser,
                                                         data_dir: Path) -> None:
    frames, _ = load_frames(data_dir, len(VIDEOS) * 4)
    estimations = play(worker(detector, analyser), [frames[0], blank_jpeg(), frames[2], frames[3]])
    assert [("detect" in e.timings, e.main_face is not None) for e in estimations] == [
        (True, True),  # the first frame: detected
        (True, False),  # the mesh lost the face on the blank frame, and the detector found none
        (True, True),  # after a frame without a face there is nothing to follow
        (False, True),  # followed again
    ]


def test_a_face_that_turned_away_from_the_crop_runs_the_detector(detector: YuNetDetector, analyser: FaceAnalyser,
                                                                 data_dir: Path) -> None:
    """200 ms apart a face can move far from the crop the previous frame placed (here: rolled by
    40 degrees); the landmarks of that crop are not trusted, the detector runs."""
    portrait = media.photo(data_dir, media.NEUTRAL_FACE).convert("RGB").resize((WIDTH, HEIGHT))
    rolled = portrait.rotate(40, resample=Image.Resampling.BILINEAR)
    estimations = play(worker(detector, analyser), [media.jpeg(portrait), media.jpeg(portrait), media.jpeg(rolled)])
    assert ["detect" in e.timings for e in estimations] == [True, False, True]
    last = estimations[-1].analysis
    assert last is not None
    assert last.head_pose is not None
    assert abs(last.head_pose.roll) > 30


def test_detect_every_1_runs_the_detector_on_every_frame(detector: YuNetDetector, analyser: FaceAnalyser,
                                                         data_dir: Path) -> None:
    settings = ESTIMATOR.model_copy(update={"estimator": ESTIMATOR.estimator.model_copy(update={"detect_every": 1})})
    run = EstimatorWorker(cast(Redis, None), Keys("t"), LiveSettings(cast(Redis, None), Keys("t"), settings),
                          detector, FaceAnalyser(analyser.xp, analyser.models, settings))
    frames, _ = load_frames(data_dir, len(VIDEOS) * 5)
    assert all("detect" in e.timings for e in play(run, frames[:5]))


def test_the_anchor_is_stored_with_the_track() -> None:
    anchor = anchor_for(FACE, (FACE,), landmarks(), frame_no=4)
    points = landmarks()[:, :2]
    back = Track.unpack(Track(4, (points,), (0.1,), anchor).pack())
    assert back.anchor == anchor
    assert isinstance(back.anchor, FaceAnchor)
