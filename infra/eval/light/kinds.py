"""The kinds of user the SIMULATED evaluation plays, and what each puts in front of the camera.

* genuine: the person of a real video, relit by the screen (scene.face_light), several rooms;
* replay: the genuine video replayed, no screen light at all;
* replay_lit: the same replay on a screen that the flash also lights: one uniform tint over the
  whole picture, face and background alike, no shading, no corneal highlight;
* print: one still frame, printed and held (a face-shaped cut-out over the face): every face
  point has the same normal, towards the screen, no sheen, no highlight; the room behind is lit
  as the wall; small hand motion (a smooth shift and roll);
* swap: a real-time face swap (the media folder's deepfake videos): the driver's mean colour
  response carried over evenly onto the rendered face, without its shading, asymmetry, sheen or
  corneal highlights; the background is the driver's room, lit normally;
* injected_<N>ms: genuine relit content delivered N ms late (an injection pipeline's latency),
  while the page tags frames as if they were current.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from PIL import Image

from infra.eval.light.params import LightModel
from infra.eval.light.relight import FrameLight
from infra.eval.light.scene import Stage, carried_over, uniform_tint

PRINT_ZOOM = 1.04  # the held print slightly larger than the frame, so its motion shows no border


class Kind(StrEnum):
    GENUINE = "genuine"
    REPLAY = "replay"
    REPLAY_LIT = "replay_lit"
    PRINT = "print"
    SWAP = "swap"
    INJECTED = "injected"


@dataclass(frozen=True)
class Variant:
    kind: Kind
    latency_ms: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.kind.value}_{round(self.latency_ms)}ms" if self.kind is Kind.INJECTED else self.kind.value

    @property
    def attack(self) -> bool:
        return self.kind is not Kind.GENUINE

    @property
    def still(self) -> bool:
        return self.kind is Kind.PRINT

    @property
    def flat(self) -> bool:
        return self.kind is Kind.PRINT


def variants(model: LightModel) -> list[Variant]:
    fixed = [Variant(k) for k in Kind if k is not Kind.INJECTED]
    return fixed + [Variant(Kind.INJECTED, latency) for latency in model.injected_latency_ms]


def shape_light(variant: Variant, light: FrameLight, stage: Stage) -> FrameLight:
    """What of the screen's light reaches the picture for this kind (genuine fields in)."""
    if variant.kind is Kind.REPLAY:
        return light.none()
    if variant.kind is Kind.REPLAY_LIT:
        return uniform_tint(light, stage)
    if variant.kind is Kind.SWAP:
        return carried_over(light)
    return light  # genuine, injected (delayed elsewhere), print (flat geometry from scene.py)


def held(image: npt.NDArray[np.uint8], model: LightModel, seconds: float, seed: int) -> npt.NDArray[np.uint8]:
    """A still held in a hand at ``seconds``: a smooth shift and roll (two slow sines per axis)."""
    phases = np.random.default_rng(seed).uniform(0, 2 * math.pi, 6)

    def wobble(k: int) -> float:
        return 0.6 * math.sin(2 * math.pi * 0.7 * seconds + phases[k]) + 0.4 * math.sin(
            2 * math.pi * 1.9 * seconds + phases[k + 3])

    picture = Image.fromarray(image)
    cx, cy = picture.width / 2, picture.height / 2
    angle = math.radians(model.hand_roll_deg * wobble(0))
    dx, dy = model.hand_shift_px * wobble(1), model.hand_shift_px * wobble(2)
    # Output pixel -> source pixel: undo the shift, the roll about the centre, and the zoom.
    cos, sin = math.cos(angle) / PRINT_ZOOM, math.sin(angle) / PRINT_ZOOM
    a, b, d, e = cos, -sin, sin, cos
    c = cx - a * (cx + dx) - b * (cy + dy)
    f = cy - d * (cx + dx) - e * (cy + dy)
    moved = picture.transform(picture.size, Image.Transform.AFFINE, (a, b, c, d, e, f),
                              resample=Image.Resampling.BILINEAR)
    return np.asarray(moved)
