"""The temporal landmark-jitter cue: its geometry, the session track kept in Redis, and what it
measures on real video through the analyser (figures and failures in docs/evidence.md;
``python -m load.eval_temporal`` prints them)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from redis.asyncio import Redis

from load.eval_temporal import consecutive_frames
from services.estimator.analysis import FaceAnalyser, Item
from services.estimator.main import build_analyser, build_detector
from services.estimator.models.yunet import YuNetDetector
from services.estimator.parallax import Reference, ReferenceStore
from services.estimator.temporal import JITTER_WINDOW, FloatArray, Track, landmark_jitter
from services.estimator.timings import Timings
from shared.keys import Keys
from shared.messages import EvidenceScore, FrameMessage, ImageType
from shared.settings import Env, Settings

DF = "deepfake_polimi_icpr2020dfdc/"
SETTINGS = Settings(env=Env.DEVELOPMENT, session={"previous_face_similarity": None})
RNG = np.random.default_rng(7)
FACE: FloatArray = (RNG.random((468, 2)) * 100 + 200).astype(np.float32)


def similar(points: FloatArray, angle: float, scale: float, shift: tuple[float, float]) -> FloatArray:
    c, s = np.cos(angle), np.sin(angle)
    moved: FloatArray = ((points @ np.array([[c, -s], [s, c]]).T) * scale + shift).astype(np.float32)
    return moved


def test_head_motion_is_not_jitter() -> None:
    """Steady motion (translation, in-plane rotation, zoom) leaves no second difference."""
    frames = [similar(FACE, 0.05 * k, 1 + 0.02 * k, (3.0 * k, -2.0 * k)) for k in range(3)]
    assert landmark_jitter(frames[0], frames[1], frames[2], iod=60.0) < 1e-4


def test_flicker_is_jitter() -> None:
    """A middle frame whose landmarks shake by sigma px reads about 2 sigma (its second difference)."""
    sigma = 1.5
    shaken = FACE + RNG.normal(0, sigma, FACE.shape).astype(np.float32)
    jitter_px = landmark_jitter(FACE, shaken, FACE, iod=1.0)
    assert 1.5 * sigma < jitter_px < 3 * sigma  # median of 2 * |N(0, sigma^2 I)| is 2.35 sigma


def test_track_needs_three_frames_in_a_row_and_keeps_a_window() -> None:
    track = Track(0)
    for frame_no in (1, 2):
        track = track.advance(frame_no, FACE, 60.0)
        assert track.jitter() is None
    track = track.advance(3, FACE, 60.0)
    assert track.jitter() == pytest.approx(0.0, abs=1e-6)
    for frame_no in range(4, 20):
        track = track.advance(frame_no, FACE + RNG.normal(0, 1, FACE.shape).astype(np.float32), 60.0)
    assert len(track.jitters) == JITTER_WINDOW
    gap = track.advance(21, FACE, 60.0)  # frame 20 had no analysed face: start again
    assert gap.jitters == ()
    assert len(gap.points) == 1
    again = Track.unpack(track.pack())
    assert again.frame_no == track.frame_no
    assert again.jitters == pytest.approx(track.jitters)
    assert all(np.array_equal(a, b) for a, b in zip(again.points, track.points, strict=True))


@pytest.mark.anyio
async def test_the_track_is_kept_in_redis_beside_the_reference(redis: Redis, keys: Keys) -> None:
    store = ReferenceStore(redis, keys, ttl_s=60)
    track = Track(4).advance(5, FACE, 60.0)
    await store.save({"s1": Reference(FACE, 3.0, -2.0, track), "s2": Reference(FACE, 1.0, 1.0)})
    loaded = await store.load(["s1", "s2", "absent"])
    assert set(loaded) == {"s1", "s2"}
    assert loaded["s1"].track is not None
    assert loaded["s1"].track.frame_no == 5
    assert np.array_equal(loaded["s1"].track.points[0], FACE)
    assert loaded["s2"].track is None
    assert 0 < await redis.ttl(keys.estimator_track("s1")) <= 60


def running(detector: YuNetDetector, analyser: FaceAnalyser, video: Path, frames: int
            ) -> tuple[list[float], list[EvidenceScore]]:
    """Consecutive frames (every 2nd) of one session through the analyser, the session's memory
    carried from frame to frame as the worker carries it through Redis: the running jitter of
    each frame that has one, and the deepfake evidence of each frame."""
    reference: Reference | None = None
    jitters, scores = [], []
    for frame_no, image in enumerate(itertools.islice(consecutive_frames(video, 2), frames), start=1):
        faces = detector.detect(image)
        assert faces
        frame = FrameMessage(session_id="s", request_id=f"r{frame_no}", frame_no=frame_no, received_at=0.0,
                             content_type=ImageType.JPEG, image=b"", width=image.shape[1], height=image.shape[0])
        item = Item(frame, image, max(faces, key=lambda f: f.box.width), Timings(), reference=reference)
        analysis = analyser.analyse([item])[0]
        reference = item.new_reference
        assert reference is not None
        assert reference.track is not None
        if (jitter := reference.track.jitter()) is not None:
            jitters.append(jitter)
        if analysis.deepfake is not None:
            scores.append(analysis.deepfake)
    return jitters, scores


def test_running_jitter_on_a_dfdc_fake_and_its_genuine_clip(data_dir: Path) -> None:
    """The DFDC fake that shakes most (brtujopkby) against the DFDC genuine clip: measured running
    jitter 0.036 vs 0.010 IOD (medians over 90 frames). The cue is reported, never in the score.
    This fake's frames never reach the evidence stage at all (AGS under 0.5): only the track sees it."""
    detector, analyser = build_detector(SETTINGS), build_analyser(SETTINGS)
    genuine, genuine_scores = running(detector, analyser, data_dir / (DF + "lynaeydofd.mp4"), 24)
    fake, _ = running(detector, analyser, data_dir / (DF + "dfdc_train_part_0__brtujopkby.mp4"), 24)
    assert len(genuine) == len(fake) == 22  # every frame after the first two
    assert np.median(fake) > 2 * np.median(genuine)  # measured 0.038 vs 0.009 on these 24 frames
    reported = [s for s in genuine_scores if "temporal_jitter" in s.cues]
    assert len(reported) == 22
    for score in reported:  # weight 0: the score is the blending cues' alone
        assert score.cues["temporal_jitter"] >= 0.9
        frequency, blending = score.cues["frequency"], score.cues["blending"]
        assert score.score == pytest.approx((1 - 0.6 * (1 - frequency)) * (1 - 0.4 * (1 - blending)), abs=1e-3)
