"""One simulated session: the page, the panel, the camera and the real measurement and plugin.

Each turn: the page picks a camera frame (timeline.py); its content is the source video at that
time (or earlier, for an injected stream), lit by what the panel showed during its exposure
(relight.py, the kind's variant of the light, kinds.py); the camera's auto-exposure and white
balance have followed every camera frame since the last (camera.py); the JPEG goes through the
estimator's models and ``LightMeter`` (measure.py) and the ``LightChallenge`` plugin decides on
the server's clock (``received_at``); its reply reaches the page, which paints the next step.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

import numpy as np

from infra.eval.light.camera import Camera, jpeg
from infra.eval.light.host import Memory, SeededRandom, SessionResult, outcome_of
from infra.eval.light.kinds import Variant, held, shape_light
from infra.eval.light.measure import Estimator
from infra.eval.light.params import LightModel, SessionDraw
from infra.eval.light.relight import Array, FrameLight, grid_sample, render, response
from infra.eval.light.scene import CanonicalFace, FaceGeometry, Stage, background_light, face_light
from infra.eval.light.sources import Footage
from infra.eval.light.stillness import still_windows
from infra.eval.light.timeline import Clock, Page, Schedule
from services.estimator.light import LINEAR
from services.plugins.builtins.light_challenge import LightChallenge
from shared.messages import ClientInfo, LightSupport, PluginVerdict
from shared.plugin_protocol import Verdict
from shared.settings import Settings

SERVER_EPOCH_S = 1_000_000.0  # the server clock at the page's time 0: any origin will do


@dataclass(frozen=True)
class Tools:
    """Built once per run: the parameters, the plugin's settings, the models."""

    model: LightModel
    settings: Settings
    estimator: Estimator
    canonical: CanonicalFace
    geometry: dict[tuple[str, int], FaceGeometry | None] = field(default_factory=dict)  # source frames
    windows: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # still stretches per video

    def window(self, footage: Footage, seed: int) -> tuple[int, int]:
        path = footage.medium.path
        if path not in self.windows:
            model = self.model
            self.windows[path] = still_windows(self.estimator, footage, self.geometry, model.still_window_s,
                                               model.still_pose_deg, model.still_frontal_deg)
        return random.Random(seed).choice(self.windows[path])


async def run_session(tools: Tools, variant: Variant, footage: Footage, draw: SessionDraw) -> SessionResult:
    model, stage = tools.model, Stage.of(tools.model, draw)
    clock, schedule = Clock(model, draw), Schedule()
    page, plugin, memory = Page(model, draw, clock, schedule), LightChallenge(tools.settings), Memory()
    plugin.random = SeededRandom(draw.seed)
    session_id, period = str(uuid.UUID(int=draw.seed)), clock.period
    lights: dict[int, tuple[Array, FrameLight]] = {}
    window = tools.window(footage, draw.seed)
    camera: Camera | None = None
    next_update, started, mixed, mismatched = 0.0, None, 0, 0
    verdict: Verdict | None = None
    received = 0.0

    def lit(at_ms: float) -> Array:
        return schedule.colours(at_ms, at_ms + model.exposure_ms) * model.screen_luminance_cd_m2

    for frame_no in range(1, model.max_frames + 1):
        sent = page.send()
        content = sent.frame.exposure_ms - variant.latency_ms
        base, light = _source(tools, variant, footage, window, stage, draw, content, lights)
        reply = response(grid_sample(base), light, draw.ambient_lux)
        if camera is None:
            white = float(light.face[:, light.skin > 0.5].mean(axis=1).sum()) if (light.skin > 0.5).any() else 0.0
            camera = Camera(model, reply.base, draw.ambient_lux + white * model.screen_luminance_cd_m2,
                            np.random.default_rng(draw.seed))
            camera.settle(reply.mean(lit(content - period)))
            next_update = content
        while next_update < content - 1e-6:  # auto-exposure and white balance follow every camera frame
            camera.advance(reply.mean(lit(next_update)), period)
            next_update += period
        picture = camera.expose(render(base, light, lit(content), draw.ambient_lux))
        before, after = schedule.step_at(content), schedule.step_at(content + model.exposure_ms)
        mixed += before != after
        shown = schedule.step_at(content + model.exposure_ms / 2)
        mismatched += (shown.index if shown else None) != sent.step
        received = SERVER_EPOCH_S + page.arrival(sent) / 1000
        client = ClientInfo(frame_time_ms=sent.frame.capture_ms, mirrored=draw.mirrored, light=LightSupport.SHOWN,
                            light_step=sent.step, light_painted_ms=sent.painted_ms)
        estimation = tools.estimator.estimate(jpeg(picture[:, ::-1] if draw.mirrored else picture, model.jpeg_quality),
                                              session_id=session_id, frame_no=frame_no, received_at=received,
                                              client=client)
        verdict = await plugin.evaluate(estimation, memory) if estimation.main_face is not None else None
        if verdict is not None and verdict.light is not None and started is None:
            started = received
        if verdict is not None and verdict.verdict is not PluginVerdict.PENDING:
            break
        page.reply((received - SERVER_EPOCH_S) * 1000, verdict.light if verdict else None)
    outcome, reason = outcome_of(verdict)
    took = None if started is None or outcome == "no_decision" else round(received - started, 3)
    details = verdict.details if verdict is not None else {}
    return SessionResult(variant=variant.name, medium=footage.medium.path, ambient_lux=round(draw.ambient_lux, 1),
                         outcome=outcome, reason=reason, retries=int(details.get("retries", 0)), frames=frame_no,
                         challenge_s=took,
                         mixed_frames=mixed, mismatched_frames=mismatched,
                         cues={k: v for k, v in details.items() if k != "retries"}, draw=draw)


def _source(tools: Tools, variant: Variant, footage: Footage, window: tuple[int, int], stage: Stage,
            draw: SessionDraw, content_ms: float,
            cache: dict[int, tuple[Array, FrameLight]]) -> tuple[Array, FrameLight]:
    """The linear picture and its light fields at content time ``content_ms``."""
    seconds = draw.start_s + content_ms / 1000
    if variant.still:  # a held print: one frame, moved by the hand, measured afresh
        image = held(footage.image(footage.index_at(draw.start_s, window)), tools.model, seconds, draw.seed)
        geometry = tools.estimator.find(image).geometry
    else:
        index = footage.index_at(seconds, window)
        if index in cache:
            return cache[index]
        image = footage.image(index)
        key = (footage.medium.path, index)
        if key not in tools.geometry:
            tools.geometry[key] = tools.estimator.find(image).geometry
        geometry = tools.geometry[key]
    base = LINEAR[image].astype(np.float64)
    light = (face_light(stage, tools.canonical, geometry, base, flat=variant.flat) if geometry is not None
             else background_light(stage, base))
    result = (base, shape_light(variant, light, stage))
    if not variant.still:
        cache[footage.index_at(seconds, window)] = result
    return result
