"""A photo or print held up before the camera: flat with hand jitter, or also tilted in 3-D to
fake the prompted turn (SYNTHETIC: the jitter and the tilts are computed here; only the photo is
real). Seeded, so a run is repeatable."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from PIL import Image

from infra.client import Reply
from infra.eval.puppets import TILT_DIRECTIONS, challenge, jpeg, tilt_sequence, tilted
from shared.settings import Interaction

JITTER_DEG = 2.0  # a hand holding a print wobbles by a degree or two
JITTER_PX = 4.0
JITTER_ROLL_DEG = 1.5


@dataclass
class HeldPhoto:
    """Answers every frame with the photo; with ``tilt``, each turn or tilt prompt with the print
    tilted out to ``max_deg`` and back (as TiltedPhoto), always with jitter on top."""

    photo: Image.Image
    focal: float
    tilt: bool
    max_deg: float = 50.0
    seed: int = 0
    queue: deque[tuple[float, float]] = field(default_factory=deque)
    current: tuple[Interaction, int | None] | None = None

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def next_frame(self, reply: Reply | None) -> tuple[str, bytes] | None:
        state = challenge(reply)
        key = (state.prompt, state.done) if state.prompt is not None else None
        if key != self.current:
            self.current = key
            self.queue.clear()
        if self.tilt and not self.queue and state.prompt in TILT_DIRECTIONS:
            self.queue.extend(tilt_sequence(state.prompt, self.max_deg))
        yaw, pitch = self.queue.popleft() if self.queue else (0.0, 0.0)
        jitter = self.random.uniform
        yaw, pitch = yaw + jitter(-JITTER_DEG, JITTER_DEG), pitch + jitter(-JITTER_DEG, JITTER_DEG)
        view = tilted(self.photo, yaw, pitch, self.focal)
        view = view.rotate(jitter(-JITTER_ROLL_DEG, JITTER_ROLL_DEG), resample=Image.Resampling.BILINEAR,
                           translate=(round(jitter(-JITTER_PX, JITTER_PX)), round(jitter(-JITTER_PX, JITTER_PX))),
                           fillcolor=(128, 128, 128))
        return f"photo yaw={yaw:.1f} pitch={pitch:.1f}", jpeg(view)
