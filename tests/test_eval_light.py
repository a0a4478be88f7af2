"""The SIMULATED light-challenge evaluation (infra/eval/light/): the renderer's physics on a real
frame, and the quick subset through the real measurement and plugin.

Physics: a split step lights the cheek on the bright half's side more (mirrored frames too, as
the estimator's ``LightMeter`` reads them); the response falls as the room gets brighter; a flat
print facing the screen is lit far more evenly than a face. The quick run: genuine people in a dim
room pass, a replay and a real-time swap do not. A simulated session recorded in the plugin's
recording mode is decided the same way again by ``--from-recordings``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from infra.eval.light.camera import srgb_encode
from infra.eval.light.command import eval_settings, evaluate, tools_for
from infra.eval.light.kinds import Kind, Variant
from infra.eval.light.params import LightModel, SessionDraw
from infra.eval.light.plan import QUICK_GENUINE
from infra.eval.light.recordings import evaluate_recordings
from infra.eval.light.relight import FrameLight, render
from infra.eval.light.report import table
from infra.eval.light.scene import FaceGeometry, Stage, face_light
from infra.eval.light.screen import quadrant_colours
from infra.eval.light.session import Tools, run_session
from infra.eval.light.sources import Footage, genuine_media
from services.estimator.face_state import inter_ocular
from services.estimator.light import LINEAR
from shared.light import LightPattern, LightStep
from shared.messages import LightSample

Linear = npt.NDArray[np.float64]
Frame = tuple[npt.NDArray[np.uint8], FaceGeometry]
FRONTAL_FRAME = 20  # of the first annotated genuine video: a frontal, still face
WHITE, BLACK = "#ffffff", "#000000"


@pytest.fixture(scope="module")
def tools() -> Tools:
    return tools_for(eval_settings(), LightModel())


@pytest.fixture(scope="module")
def frame(data_dir: Path, tools: Tools) -> Frame:
    medium = next(m for m in genuine_media(data_dir) if m.path == QUICK_GENUINE[0])
    image = Footage(data_dir, medium, tools.model.frame_box, 1.0).image(FRONTAL_FRAME)
    geometry = tools.estimator.find(image).geometry
    assert geometry is not None
    return image, geometry


def _light(tools: Tools, frame: Frame, ambient: float, *, flat: bool = False) -> tuple[Linear, FrameLight]:
    image, geometry = frame
    draw = dataclasses.replace(SessionDraw.draw(tools.model, 7, ambient_lux=ambient), face_distance_m=0.4)
    base = LINEAR[image].astype(np.float64)
    return base, face_light(Stage.of(tools.model, draw), tools.canonical, geometry, base, flat=flat)


def _measure(tools: Tools, linear: Linear, *, mirrored: bool) -> LightSample:
    """What the estimator reads off the frame the page would send (flipped in a mirrored page)."""
    image = srgb_encode(linear)
    image = np.ascontiguousarray(image[:, ::-1]) if mirrored else image
    found = tools.estimator.find(image)
    assert found.geometry is not None
    assert found.main is not None
    landmarks = found.geometry.landmarks
    return tools.estimator.meter.measure(image, landmarks, found.geometry.eyes, found.faces[found.main].box,
                                         inter_ocular(landmarks), mirrored)


def _split(first: str, second: str) -> Linear:
    step = LightStep(index=1, pattern=LightPattern.LEFT_RIGHT, colors=(first, second), duration_ms=300)
    return quadrant_colours(step) * LightModel().screen_luminance_cd_m2


@pytest.mark.parametrize("mirrored", [False, True])
def test_a_split_step_lights_the_cheek_on_the_bright_side(tools: Tools, frame: Frame,
                                                          mirrored: bool) -> None:
    base, light = _light(tools, frame, 50.0)
    dark = _measure(tools, render(base, light, np.zeros((4, 3)), 50.0), mirrored=mirrored)
    left_lit = _measure(tools, render(base, light, _split(WHITE, BLACK), 50.0), mirrored=mirrored)
    right_lit = _measure(tools, render(base, light, _split(BLACK, WHITE), 50.0), mirrored=mirrored)

    def response(sample: LightSample, region: str) -> float:
        """The light the screen added to a region, relative to the region without it."""
        return float(np.mean(np.array(getattr(sample, region)) / np.array(getattr(dark, region)))) - 1

    assert response(left_lit, "left") > 1.1 * response(left_lit, "right")
    assert response(right_lit, "right") > 1.1 * response(right_lit, "left")


def test_the_response_falls_with_the_ambient_light(tools: Tools, frame: Frame) -> None:
    white = _split(WHITE, WHITE)
    responses = []
    for ambient in (20.0, 200.0, 2000.0):
        base, light = _light(tools, frame, ambient)
        responses.append(float(np.median(render(base, light, white, ambient) / np.maximum(base, 1e-4) - 1)))
    assert responses[0] > 5 * responses[1] > 25 * responses[2] > 0


def test_a_flat_print_is_lit_far_more_evenly_than_a_face(tools: Tools, frame: Frame) -> None:
    def asymmetry(light: FrameLight) -> float:
        """Left-half light minus right-half light on the face, over the face's mean (lux ratios)."""
        skin = light.skin > 0.5
        columns = np.nonzero(skin.any(axis=0))[0]
        middle = (columns.min() + columns.max()) / 2
        left, right = skin & (np.arange(skin.shape[1]) > middle), skin & (np.arange(skin.shape[1]) < middle)
        from_left = light.face[0] + light.face[2]  # the person's left half: image right
        return float(abs(from_left[left].mean() - from_left[right].mean()) / from_left[skin].mean())

    face, flat = _light(tools, frame, 50.0)[1], _light(tools, frame, 50.0, flat=True)[1]
    assert asymmetry(face) > 0.15
    assert asymmetry(flat) < asymmetry(face) / 2


@pytest.mark.timeout(180)
def test_the_quick_subset_passes_dim_genuine_sessions_and_stops_a_replay_and_a_swap(data_dir: Path,
                                                                                       tmp_path: Path) -> None:
    started = time.monotonic()
    report = evaluate(data_dir, tmp_path, sessions=1, quick=True)
    print(table(report), f"\nquick run: {time.monotonic() - started:.1f} s")
    assert report["label"].startswith("SIMULATED")
    sessions = report["sessions"]
    genuine = [s for s in sessions if s["variant"] == Kind.GENUINE.value]
    assert len(genuine) == 2
    assert all(s["outcome"] == "pass" for s in genuine), [(s["outcome"], s["reason"]) for s in genuine]
    for kind in (Kind.REPLAY, Kind.SWAP):
        attacks = [s for s in sessions if s["variant"] == kind.value]
        assert attacks
        assert all(s["outcome"] != "pass" for s in attacks), attacks
    assert (tmp_path / "light.json").is_file()


@pytest.mark.timeout(180)
def test_a_recorded_session_is_decided_again_from_its_recording(data_dir: Path, tools: Tools,
                                                                tmp_path: Path) -> None:
    settings = eval_settings()
    recording = settings.model_copy(update={"light_challenge": settings.light_challenge.model_copy(
        update={"record": True, "recordings_path": tmp_path / "recordings"})})
    recorder_tools = dataclasses.replace(tools, settings=recording)
    medium = next(m for m in genuine_media(data_dir) if m.path == QUICK_GENUINE[0])
    footage = Footage(data_dir, medium, tools.model.frame_box, 4.0)
    draw = SessionDraw.draw(tools.model, 11, ambient_lux=30.0)
    simulated = asyncio.run(run_session(recorder_tools, Variant(Kind.GENUINE), footage, draw))
    report = evaluate_recordings(tmp_path / "recordings", tmp_path / "out")
    assert report["label"].startswith("REAL RECORDINGS")
    (replayed,) = report["sessions"]
    assert replayed["outcome"] == simulated.outcome
    assert report["run"]["same_verdict_as_recorded"] == 1
