"""Simulated time (ms) of one session: the camera's clock, what the panel shows, the page's loop.

The page (services/ingress/static/vigil.js) keeps one frame in flight, at least
``frame_interval_ms`` apart. A reply carrying a new light step is painted at the next vsync; the
panel shows it ``display_latency_ms`` later (the page cannot see that delay). The next frame sent
is the first camera frame stamped (captureTime) at least ``settle_ms`` after the paint, else the
next one delivered. The camera runs free at ``camera_fps``; its stamp sits ``timestamp_offset_ms``
after the exposure starts, so a frame stamped after the settle may still have been exposed partly
under the old step when the display is slow: the simulator mixes what the panel showed over the
exposure, it does not assume the page's rule holds.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

import numpy as np

from infra.eval.light.params import LightModel, SessionDraw
from infra.eval.light.screen import Array, quadrant_colours
from shared.light import LightStep
from shared.messages import LightInstruction


@dataclass(frozen=True)
class CameraFrame:
    index: int
    exposure_ms: float  # the exposure starts
    capture_ms: float  # the stamp the page reads (captureTime)
    delivered_ms: float  # the page can draw it from here on


class Clock:
    def __init__(self, model: LightModel, draw: SessionDraw) -> None:
        self.period, self.model, self.draw = 1000.0 / model.camera_fps, model, draw

    def frame(self, index: int) -> CameraFrame:
        start = self.draw.camera_phase_ms + index * self.period
        return CameraFrame(index, start, start + self.draw.timestamp_offset_ms,
                           start + self.model.exposure_ms + self.draw.camera_delivery_ms)

    def delivered_from(self, at_ms: float) -> CameraFrame:
        lag = self.model.exposure_ms + self.draw.camera_delivery_ms
        return self.frame(max(0, math.ceil((at_ms - self.draw.camera_phase_ms - lag) / self.period)))

    def stamped_from(self, at_ms: float) -> CameraFrame:
        offset = self.draw.timestamp_offset_ms
        return self.frame(max(0, math.ceil((at_ms - self.draw.camera_phase_ms - offset) / self.period)))


class Schedule:
    """What the panel physically shows: the step from each change time on (None: the page's white)."""

    def __init__(self) -> None:
        self.times: list[float] = [-math.inf]
        self.steps: list[LightStep | None] = [None]

    def show(self, at_ms: float, step: LightStep) -> None:
        self.times.append(at_ms)
        self.steps.append(step)

    def step_at(self, at_ms: float) -> LightStep | None:
        return self.steps[bisect.bisect_right(self.times, at_ms) - 1]

    def colours(self, start_ms: float, end_ms: float) -> Array:
        """Linear RGB per quadrant (4, 3), averaged over [start, end)."""
        first = bisect.bisect_right(self.times, start_ms) - 1
        total = np.zeros((4, 3))
        for k in range(first, len(self.times)):
            a = max(start_ms, self.times[k])
            b = min(end_ms, self.times[k + 1] if k + 1 < len(self.times) else math.inf)
            if b > a:
                total += (b - a) * quadrant_colours(self.steps[k])
        return total / (end_ms - start_ms)


@dataclass(frozen=True)
class Sent:
    frame: CameraFrame
    sent_ms: float
    step: int | None  # the page's tags: the step it had painted, and when
    painted_ms: float | None


class Page:
    def __init__(self, model: LightModel, draw: SessionDraw, clock: Clock, schedule: Schedule) -> None:
        self.model, self.draw, self.clock, self.schedule = model, draw, clock, schedule
        self.rng = random.Random(draw.seed ^ 0x5EED)
        self.now, self.last_sent = 0.0, -math.inf
        self.painted: LightStep | None = None
        self.painted_ms: float | None = None

    def send(self) -> Sent:
        frame = self.clock.delivered_from(max(self.now, self.last_sent + self.model.frame_interval_ms))
        if self.painted_ms is not None:
            settled = self.clock.stamped_from(self.painted_ms + self.model.settle_ms)
            frame = settled if settled.index > frame.index else frame
        self.last_sent = frame.delivered_ms + self.rng.uniform(*self.model.encode_ms)
        return Sent(frame, self.last_sent, self.painted.index if self.painted else None, self.painted_ms)

    def arrival(self, sent: Sent) -> float:
        """When the frame reaches the server (its ``received_at``)."""
        return sent.sent_ms + self.draw.rtt_ms / 2 + self.rng.uniform(-1, 1) * self.model.jitter_ms

    def reply(self, arrived_ms: float, instruction: LightInstruction | None) -> None:
        """The server's answer reaches the page; a new step is painted at the next vsync."""
        processing = self.draw.processing_ms * self.rng.uniform(0.8, 1.2)
        self.now = arrived_ms + processing + self.draw.rtt_ms / 2 + self.rng.uniform(-1, 1) * self.model.jitter_ms
        if instruction is None:
            return
        step = LightStep(index=instruction.step, pattern=instruction.pattern, colors=instruction.colors,
                         duration_ms=instruction.duration_ms)
        if step == self.painted:
            return
        vsync = self.model.vsync_ms
        self.painted_ms = self.draw.vsync_phase_ms + math.ceil((self.now - self.draw.vsync_phase_ms) / vsync) * vsync
        self.painted = step
        self.schedule.show(self.painted_ms + self.draw.display_latency_ms, step)
