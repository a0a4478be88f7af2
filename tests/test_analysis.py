"""The estimator's per-face analysis on real faces: pose signs and accuracy, eyes, mouth,
parallax, and every estimation reaching the page in development mode."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from infra.client import LPClient
from infra.redis_server import RedisServer
from services.estimator.analysis import FaceAnalyser, Item
from services.estimator.models.yunet import YuNetDetector
from services.estimator.parallax import eye_centre_distance, homography_residual
from services.estimator.timings import Timings
from shared.messages import ClientInfo, EyeState, FaceAnalysis, FrameMessage, ImageType
from shared.settings import Env, Settings
from tests import media
from tests.stack import Stack

SETTINGS = Settings(env=Env.DEVELOPMENT, session={"previous_face_similarity": None})


def analyse(detector: YuNetDetector, analyser: FaceAnalyser, image: Image.Image,
            client: ClientInfo | None = None, *, descriptor_wanted: bool = False) -> FaceAnalysis:
    pixels = np.asarray(image.convert("RGB"))
    faces = detector.detect(pixels)
    assert faces, "no face found"
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=90)
    frame = FrameMessage(session_id="s", request_id="r", frame_no=1, received_at=0.0, content_type=ImageType.JPEG,
                         image=buffer.getvalue(), width=pixels.shape[1], height=pixels.shape[0], client=client)
    return analyser.analyse([Item(frame, pixels, faces[0], Timings(), descriptor_wanted=descriptor_wanted)])[0]


def video_frame(data_dir: Path, name: str, index: int) -> Image.Image:
    with av.open(str(data_dir / name)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == index:
                return frame.to_image()  # type: ignore[no-untyped-call,no-any-return]
    raise AssertionError(f"{name} has no frame {index}")


def test_every_estimation_on_a_real_portrait(detector: YuNetDetector, analyser: FaceAnalyser, data_dir: Path) -> None:
    analysis = analyse(detector, analyser, media.photo(data_dir, media.NEUTRAL_FACE))
    assert analysis.head_pose is not None
    assert abs(analysis.head_pose.yaw) < 10
    assert analysis.eyes is not None
    assert (analysis.eyes.left, analysis.eyes.right) == (EyeState.OPEN, EyeState.OPEN)
    assert analysis.mouth is not None
    assert analysis.mouth.opened < 0.5
    assert analysis.eyeglasses is not None
    assert analysis.ags is not None
    assert analysis.ags > 0.5
    assert analysis.liveness is not None
    assert analysis.liveness.source.startswith("heuristic:")
    assert analysis.image_modification is not None


def test_mirroring_flips_yaw_and_roll(detector: YuNetDetector, analyser: FaceAnalyser, data_dir: Path) -> None:
    turned = media.photo(data_dir, "aflw2000_subset_pose/JPEG__image00008.jpg")
    plain = analyse(detector, analyser, turned).head_pose
    mirrored = analyse(detector, analyser, ImageOps.mirror(turned)).head_pose
    assert plain is not None
    assert mirrored is not None
    assert plain.yaw < -8  # the nose points to the image left: the person turned to their right
    assert mirrored.yaw == pytest.approx(-plain.yaw, abs=4)
    assert mirrored.roll == pytest.approx(-plain.roll, abs=4)
    assert mirrored.pitch == pytest.approx(plain.pitch, abs=4)
    # A selfie page that says it sends mirrored frames gets the person's own signs back.
    declared = analyse(detector, analyser, ImageOps.mirror(turned), ClientInfo(mirrored=True)).head_pose
    assert declared is not None
    assert declared.yaw == pytest.approx(plain.yaw, abs=4)


def test_the_descriptor_is_computed_only_where_the_face_matcher_compares(
    detector: YuNetDetector, analyser: FaceAnalyser, data_dir: Path,
) -> None:
    frontal = media.photo(data_dir, media.NEUTRAL_FACE)
    described = analyse(detector, analyser, frontal, descriptor_wanted=True)
    assert described.descriptor is not None
    assert len(described.descriptor) == 128
    assert analyse(detector, analyser, frontal).descriptor is None  # not due on this frame
    turned = analyse(detector, analyser, media.photo(data_dir, "aflw2000_subset_pose/JPEG__image00026.jpg"),
                     descriptor_wanted=True)  # AFLW2000 yaw 25 degrees: the FaceMatcher does not compare it
    assert turned.head_pose is not None
    assert abs(turned.head_pose.yaw) > 15
    assert turned.descriptor is None
    blurred = analyse(detector, analyser, frontal.filter(ImageFilter.GaussianBlur(6)), descriptor_wanted=True)
    assert blurred.image_quality is not None
    assert blurred.image_quality.blur < 0.61  # under the gate: the frame never enters the decider's window
    assert blurred.descriptor is None


@pytest.mark.parametrize("degrees", [-15, 15])
def test_rotating_the_image_changes_roll_by_the_rotation(
    detector: YuNetDetector, analyser: FaceAnalyser, data_dir: Path, degrees: int,
) -> None:
    portrait = media.photo(data_dir, media.NEUTRAL_FACE)
    upright = analyse(detector, analyser, portrait).head_pose
    # PIL rotates counter-clockwise: the head then leans to the person's right shoulder (roll < 0).
    rotated = analyse(detector, analyser, portrait.rotate(degrees, resample=Image.Resampling.BILINEAR)).head_pose
    assert upright is not None
    assert rotated is not None
    assert rotated.roll - upright.roll == pytest.approx(-degrees, abs=3)


def test_head_pose_against_aflw2000_ground_truth(detector: YuNetDetector, analyser: FaceAnalyser,
                                                  data_dir: Path) -> None:
    """AFLW2000-3D poses (its yaw sign is the opposite of ours); faces within 45 degrees."""
    folder = data_dir / "aflw2000_subset_pose"
    errors = []
    with (folder / "poses_from_mat.csv").open() as handle:
        for row in csv.DictReader(handle):
            truth = (-float(row["yaw_deg"]), float(row["pitch_deg"]), float(row["roll_deg"]))
            if max(abs(a) for a in truth) >= 45:
                continue
            pose = analyse(detector, analyser, media.photo(data_dir, f"aflw2000_subset_pose/{row['image']}")).head_pose
            assert pose is not None
            errors.append(np.abs(np.array([pose.yaw, pose.pitch, pose.roll]) - truth))
    mae = np.mean(errors, axis=0)
    assert len(errors) >= 40
    assert mae[0] < 4  # measured 1.9 degrees
    assert mae[1] < 6  # measured 3.3
    assert mae[2] < 3  # measured 1.3


def test_a_real_blink_closes_the_eyes(detector: YuNetDetector, analyser: FaceAnalyser, data_dir: Path) -> None:
    clip = "blink_selfie_repeating/video.mp4"
    opened = analyse(detector, analyser, video_frame(data_dir, clip, 60)).eyes
    closed = analyse(detector, analyser, video_frame(data_dir, clip, 180)).eyes
    assert opened is not None
    assert closed is not None
    assert (opened.left, opened.right) == (EyeState.OPEN, EyeState.OPEN)
    assert (closed.left, closed.right) == (EyeState.CLOSED, EyeState.CLOSED)


def test_open_mouth_and_smile(detector: YuNetDetector, analyser: FaceAnalyser, data_dir: Path) -> None:
    folder = "yalefaces_leecarraher"
    neutral = analyse(detector, analyser, media.photo(data_dir, f"{folder}/subject01.normal.gif")).mouth
    surprised = analyse(detector, analyser, media.photo(data_dir, f"{folder}/subject01.surprised.gif")).mouth
    happy = analyse(detector, analyser, media.photo(data_dir, f"{folder}/subject01.happy.gif")).mouth
    assert neutral is not None
    assert surprised is not None
    assert happy is not None
    assert neutral.opened < 0.5 < surprised.opened
    assert neutral.smile < 0.5 < happy.smile


def test_parallax_separates_a_turning_head_from_a_tilted_photo(
    detector: YuNetDetector, analyser: FaceAnalyser, data_dir: Path,
) -> None:
    from services.estimator.main import build_models

    models = build_models(SETTINGS)

    def landmarks(image: Image.Image) -> np.ndarray:
        pixels = np.asarray(image.convert("RGB"))
        return models.mesh.predict_one(pixels, detector.detect(pixels)[0]).landmarks

    clip = "pad_replay_tranvanluyt/videos__real.mp4"
    front, turned = landmarks(video_frame(data_dir, clip, 20)), landmarks(video_frame(data_dir, clip, 80))
    iod = eye_centre_distance(front)
    real = homography_residual(front[:, :2], turned[:, :2], iod)
    # A flat print of the frontal frame, turned 35 degrees about its vertical axis (synthetic tilt).
    still = video_frame(data_dir, clip, 20)
    width, height = still.size
    focal, angle = float(width), np.radians(35)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]])
    plane = np.array([[1, 0, -width / 2], [0, 1, -height / 2], [0, 0, focal]])  # the print, at depth `focal`
    centre = np.array([[0.0], [0.0], [focal]])
    # Rotate the print about its own centre, then project: one homography, as a real tilted print.
    homography = camera @ (rotation @ plane + (np.eye(3) - rotation) @ centre @ np.array([[0.0, 0.0, 1.0]]))
    inverse = np.linalg.inv(homography)
    tilted = still.transform(still.size, Image.Transform.PERSPECTIVE, tuple((inverse / inverse[2, 2]).ravel()[:8]),
                             Image.Resampling.BILINEAR)
    flat = homography_residual(front[:, :2], landmarks(tilted)[:, :2], iod)
    assert real > 0.085 > flat, (real, flat)


@pytest.mark.anyio
async def test_stats_carry_every_estimation_in_development(
    redis_server: RedisServer, tmp_path: Path, data_dir: Path,
) -> None:
    import uuid

    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path)
    try:
        stack.start_all()
        async with LPClient(stack.ws_url) as client:
            await client.connect()
            body = (await client.frame(media.jpeg(media.photo(data_dir, media.OTHER_FACE)))).stats()
    finally:
        stack.stop()
    estimations = body["estimations"]
    expected = {"faceCount", "faceFramePosition", "ags", "imageQuality", "headPose", "eyes", "mouth", "eyeglasses",
                "liveness", "imageModification"}
    assert expected <= set(estimations), set(estimations)
    assert estimations["liveness"]["source"] == "heuristic:recapture-cues"
    assert set(estimations["eyes"]) == {"left", "right", "state"}
