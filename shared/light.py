"""The screen-light challenge's vocabulary: patterns, the palette, steps and their safety rules.

The server draws a session's steps here (services/plugins/builtins/light_challenge.py), the page
paints them (services/ingress/static/vigil.js), the estimator's measurement and the simulated
evaluation read the same definitions, so "what was on the screen" means one thing everywhere.

Photosensitivity (WCAG 2.3.1, general flash and red flash thresholds): a *luminance change* is a
change of WCAG relative luminance of at least ``FLASH_DELTA`` on either half of the screen where
the darker state is below ``FLASH_DARKER_BELOW``; no sequence drawn here has more than
``MAX_CHANGES_PER_S`` of them in any one-second window (stricter than WCAG's three *flashes*, each
a pair of changes), and no colour is a saturated red. The page enforces the same rule again on
what it really paints.
"""

from __future__ import annotations

import random
from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

# WCAG 2.x: a flash is a pair of opposing changes of >= 10 % of the maximum relative luminance
# where the darker image is below 0.80.
FLASH_DELTA = 0.10
FLASH_DARKER_BELOW = 0.80
MAX_CHANGES_PER_S = 3
WINDOW_MS = 1000
# WCAG's red flash rule: a colour with R / (R + G + B) >= 0.8 is "saturated red".
SATURATED_RED_SHARE = 0.8

BASELINE_COLOR = "#ffffff"
# Chromatic directions a webcam separates on skin: every pair differs strongly in at least one
# channel. Pairs of close luminance (white/yellow, cyan/green, orange/pink) change the colour
# without a luminance change, which keeps sequences inside the flash rule. No saturated red.
PALETTE: tuple[str, ...] = ("#ffffff", "#ffff00", "#00ffff", "#00ff00", "#ff00ff", "#ff9900", "#ff80ff", "#0000ff")


class LightPattern(StrEnum):
    FULL = "full"  # the whole screen one colour
    LEFT_RIGHT = "left_right"  # colors[0] on the left half as the person sees the screen, colors[1] right
    TOP_BOTTOM = "top_bottom"  # colors[0] on the top half, colors[1] on the bottom half


class LightStep(BaseModel):
    """One step of a session's sequence: index 0 is the white baseline, 1..n the challenge."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=0)
    pattern: LightPattern
    colors: tuple[str, ...] = Field(min_length=1, max_length=2)
    duration_ms: int = Field(ge=1)

    def halves(self) -> tuple[str, str]:
        """(first, second) half colours: left/right or top/bottom; both the same for FULL."""
        return (self.colors[0], self.colors[0]) if self.pattern is LightPattern.FULL else (self.colors[0],
                                                                                              self.colors[1])


def srgb_to_linear(value: float) -> float:
    """IEC 61966-2-1 decoding of one sRGB channel in [0, 1]."""
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def parse_hex(color: str) -> tuple[int, int, int]:
    if len(color) != 7 or color[0] != "#":
        raise ValueError(f"not a #rrggbb colour: {color!r}")
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def linear_rgb(color: str) -> tuple[float, float, float]:
    r, g, b = (srgb_to_linear(c / 255) for c in parse_hex(color))
    return r, g, b


def relative_luminance(color: str) -> float:
    r, g, b = linear_rgb(color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def is_saturated_red(color: str) -> bool:
    r, g, b = parse_hex(color)
    return r + g + b > 0 and r / (r + g + b) >= SATURATED_RED_SHARE


def is_luminance_change(before: LightStep | None, after: LightStep) -> bool:
    """Does showing ``after`` where ``before`` was (None: the page without overlay, taken as dark)
    change either half's luminance enough to count towards the flash limit?"""
    old = before.halves() if before is not None else ("#000000", "#000000")
    for a, b in zip(old, after.halves(), strict=True):
        la, lb = relative_luminance(a), relative_luminance(b)
        if abs(la - lb) >= FLASH_DELTA and min(la, lb) < FLASH_DARKER_BELOW:
            return True
    return False


def change_times(steps: list[LightStep]) -> list[int]:
    """Start times (ms from the first step) of the steps that change the luminance."""
    times, at, previous = [], 0, None
    for step in steps:
        if is_luminance_change(previous, step):
            times.append(at)
        at, previous = at + step.duration_ms, step
    return times


def is_photosensitivity_safe(steps: list[LightStep]) -> bool:
    times = change_times(steps)
    too_many = any(times[k + MAX_CHANGES_PER_S] - times[k] < WINDOW_MS for k in range(len(times) - MAX_CHANGES_PER_S))
    return not too_many and not any(is_saturated_red(c) for step in steps for c in step.colors)


def draw_sequence(rng: random.Random, *, count: int, min_ms: int, max_ms: int, baseline_ms: int,
                  split_share: float, vertical_share: float = 0.5) -> list[LightStep]:
    """A baseline and ``count`` random steps, safe by construction (``is_photosensitivity_safe``).

    Each step is drawn at random; one that would make a fourth luminance change within a second is
    replaced by a draw among the steps that change no luminance (same-luminance colours), and when
    none exists, by the previous step held a little longer. ``rng`` must be the OS's secure source
    in production (``secrets.SystemRandom``): the sequence must not be predictable.
    """
    steps = [LightStep(index=0, pattern=LightPattern.FULL, colors=(BASELINE_COLOR,), duration_ms=baseline_ms)]
    while len(steps) <= count:
        candidate = _random_step(rng, len(steps), min_ms, max_ms, split_share, vertical_share, steps[-1])
        if not is_photosensitivity_safe([*steps, candidate]):
            quiet = [c for c in (_random_step(rng, len(steps), min_ms, max_ms, split_share, vertical_share, steps[-1])
                                 for _ in range(40)) if not is_luminance_change(steps[-1], c)]
            candidate = quiet[0] if quiet else steps[-1].model_copy(update={"index": len(steps)})
        steps.append(candidate)
    return steps


def _random_step(rng: random.Random, index: int, min_ms: int, max_ms: int, split_share: float,
                 vertical_share: float, previous: LightStep) -> LightStep:
    duration = rng.randint(min_ms, max_ms)
    colors = [c for c in PALETTE if not is_saturated_red(c)]
    if rng.random() < split_share:
        pattern = LightPattern.TOP_BOTTOM if rng.random() < vertical_share else LightPattern.LEFT_RIGHT
        first, second = rng.sample(colors, 2)
        return LightStep(index=index, pattern=pattern, colors=(first, second), duration_ms=duration)
    # A full step differs from the previous one's colours, so every step carries information.
    choices = [c for c in colors if c not in previous.colors] or colors
    return LightStep(index=index, pattern=LightPattern.FULL, colors=(rng.choice(choices),), duration_ms=duration)


class IssuedStep(BaseModel):
    """A step as the server sent it: in the reply to ``frame_no``, which arrived at ``at``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: LightStep
    frame_no: int  # the frame whose reply carried the step
    at: float  # that frame's arrival, server clock (s)


class RecordedFrame(BaseModel):
    """One line of a recorded session's ``timeline.jsonl`` (``light_challenge.record``): what the
    server knew when it decided the frame, and the frame's image file beside it, so
    ``vigil eval light --from-recordings`` can measure and decide real sessions again."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    VERSION: ClassVar[int] = 1

    version: int = VERSION
    frame_no: int
    received_at: float
    image: str | None  # file name in the session's folder; None: the frame had no face to keep
    light: str | None  # the page's ``light`` support header
    light_step: int | None
    light_painted_ms: float | None
    frame_time_ms: float | None
    mirrored: bool
    verdict: str
    retries: int
    # The steps issued so far in the current sequence (a retry starts a new one).
    issued: tuple[IssuedStep, ...]
