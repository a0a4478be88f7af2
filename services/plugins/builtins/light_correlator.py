"""Does the light on the face follow the steps the screen showed? Pure arithmetic, no I/O.

Inputs: the steps as issued (with the frame whose reply carried each one) and one observation per
later frame (the step the page says was on screen when it captured the frame, and the frame's
``LightSample``). Everything is relative to the session's own baseline (the white step 0), so the
skin's colour and the room's light cancel: for a region, ``r = sample / baseline - 1`` per channel.

Expected response of a region to a step: with the screen's share ``g`` of the light on the face,
a region lit by screen colour ``c`` (linear RGB) instead of white answers ``g * (c - 1)``. Four
numbers decide (docs/plugins.md, "LightChallenge"):

* **strength** ``g``: least-squares fit of the face's chromatic response (the mean over channels
  removed, so an exposure change is not mistaken for light) onto the expected one, and the
  **colour match**: their cosine over all steps; both for each frame lag 0..``MAX_LAG_SEARCHED``.
  No lag with both high enough: too little light came back to judge (a bright room, a dim
  screen, or no light at all: a replay): the caller retries, it is not called an attack. The best
  matching lag must be within ``max_lag_frames``.
* **spatial match** on split steps: the left-minus-right (top-minus-bottom) response against the
  two halves' colour difference; its cosine, and its size as a share of the whole response (a flat
  print or a re-rendered face is lit almost evenly), pooled over the session's sequences.
* **background ratio**: the background band's response over the face's; near 1 for a whole-frame
  tint (a screen filmed while the flash lights it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from shared.light import IssuedStep, LightPattern, LightStep, linear_rgb
from shared.messages import LightSample
from shared.settings import LightChallengeSettings

MAX_LAG_SEARCHED = 3  # frames; an injected stream that lags more fails on colour at every lag
LAG_MARGIN = 0.05  # colour-match cosine by which a later lag must beat lag 0
BASELINE_FRAMES = 2  # the last frames of the white step: the exposure has settled by then
# Which half lights a region most: the near half's share of the region's screen light (the rest
# comes from the far half). Only the sign and rough size matter: the match is a cosine.
NEAR_HALF_SHARE = 0.65
Vector = npt.NDArray[np.float64]


class Outcome(StrEnum):
    PASS = "pass"
    TOO_WEAK = "too_weak"  # too little light came back to judge: a retry, not an attack
    UNMEASURED = "unmeasured"  # too few usable frames (movement, no face): a retry
    LATE = "late"  # the response came frames or seconds late (an injected, re-rendered stream)
    TINT = "tint"  # the background answered like the face: a whole-frame tint
    SHAPE = "shape"  # no left/right, top/bottom shape on split steps (flat print, re-rendered face)


class Observation(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    frame_no: int
    at: float  # arrival, server clock (s)
    shown: int | None  # the step the page had on screen at capture (None: not tagged / implausible)
    sample: LightSample | None  # None: no usable measurement (no face, turned away)


class ShapeEvidence(BaseModel):
    """One sequence's split steps: observed and expected differences, and the face's strength. A
    retry adds its own, and the shape is judged on all of them together, so a retry is more data
    for a real face and not one more draw for a flat one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seen: tuple[float, ...]
    expected: tuple[float, ...]
    strength: float


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    cues: dict[str, float]
    shape: ShapeEvidence | None = None  # this sequence's, when its colours came back in time


def correlate(issued: Sequence[IssuedStep], observations: Sequence[Observation],
              options: LightChallengeSettings, earlier: Sequence[ShapeEvidence] = ()) -> Result:
    """``earlier``: the shape evidence of the session's previous sequences (retries)."""
    steps = {item.step.index: item for item in issued}
    fits: dict[int, Fit] = {}
    for lag in range(MAX_LAG_SEARCHED + 1):
        if (fit := _fit(steps, _assign(observations, lag))) is not None:
            fits[lag] = fit
    measured = fits.get(0)
    if measured is None:
        return Result(Outcome.UNMEASURED, {})
    cues = {**measured.cues(), "response_s": _response_s(steps, _assign(observations, 0))}
    wanted = options.min_steps - 2  # a step or two may go unmeasured (a blink, a frame lost)
    if measured.steps < max(3, wanted):
        return Result(Outcome.UNMEASURED, cues)
    # Lags at which the screen's colours came back, strongly enough: none means too little light to
    # judge (a bright room, a dim screen, a camera that adapts) or none at all (a replay), never a
    # verdict of attack on its own. A later lag wins only clearly: frames within one step look alike.
    matched = [lag for lag, fit in fits.items()
               if fit.colour >= options.min_colour_match and fit.strength >= options.min_response]
    if not matched:
        return Result(Outcome.TOO_WEAK, {**cues, "lag_frames": -1.0})
    best = max(matched, key=lambda lag: fits[lag].colour - (0 if lag == 0 else LAG_MARGIN))
    cues["lag_frames"] = float(best)
    if best > options.max_lag_frames or cues["response_s"] > options.max_response_s:
        return Result(Outcome.LATE, cues)
    if measured.background_ratio is not None and measured.background_ratio > options.max_background_ratio:
        return Result(Outcome.TINT, cues)
    evidence = [*earlier, measured.shape] if measured.shape is not None else list(earlier)
    spatial, share = pooled_shape(evidence)
    cues.update(spatial_match=round(spatial, 4), spatial_share=round(share, 4), sequences=float(len(evidence)))
    if spatial < options.min_spatial_match or share < options.min_spatial_share:
        return Result(Outcome.SHAPE, cues, measured.shape)
    return Result(Outcome.PASS, cues, measured.shape)


def pooled_shape(evidence: Sequence[ShapeEvidence]) -> tuple[float, float]:
    """Cosine of all observed against all expected differences, and their size as a share of what
    each sequence's own strength predicts (0, 0 without split steps)."""
    if not evidence:
        return 0.0, 0.0
    seen = np.concatenate([np.array(e.seen) for e in evidence])
    expected = np.concatenate([np.array(e.expected) for e in evidence])
    predicted = sum(abs(e.strength) * float(np.dot(e.expected, e.expected)) for e in evidence)
    return _cosine(seen, expected), float(seen @ expected) / max(predicted, 1e-12)


def _assign(observations: Sequence[Observation], lag: int) -> list[tuple[int, Observation]]:
    """(step, observation) pairs when each frame shows what was on screen ``lag`` frames earlier."""
    pairs = []
    for k in range(lag, len(observations)):
        shown, current = observations[k - lag].shown, observations[k]
        if shown is not None and current.sample is not None:
            pairs.append((shown, current))
    return pairs


def _response_s(steps: dict[int, IssuedStep], assigned: list[tuple[int, Observation]]) -> float:
    """The slowest step: from sending it to receiving the first frame captured under it."""
    first: dict[int, float] = {}
    for step, observation in assigned:
        first.setdefault(step, observation.at)
    delays = [first[k] - steps[k].at for k in first if k in steps and k > 0]
    return round(max(delays), 3) if delays else 0.0


@dataclass(frozen=True)
class Fit:
    steps: int
    strength: float
    colour: float
    spatial: float
    spatial_share: float
    background_ratio: float | None
    cornea: float | None
    shape: ShapeEvidence | None = None

    def cues(self) -> dict[str, float]:
        values = {"steps": float(self.steps), "strength": self.strength, "colour_match": self.colour,
                  "spatial_match": self.spatial, "spatial_share": self.spatial_share}
        if self.background_ratio is not None:
            values["background_ratio"] = self.background_ratio
        if self.cornea is not None:
            values["cornea_match"] = self.cornea
        return {name: round(value, 4) for name, value in values.items()}


def _fit(steps: dict[int, IssuedStep], assigned: list[tuple[int, Observation]]) -> Fit | None:
    by_step: dict[int, list[LightSample]] = {}
    for index, observation in assigned:
        if observation.sample is not None:
            by_step.setdefault(index, []).append(observation.sample)
    baseline = _means(by_step.get(0, [])[-BASELINE_FRAMES:])
    if "face" not in baseline:
        return None
    observed: list[Vector] = []
    expected: list[Vector] = []
    shape_seen: list[Vector] = []
    shape_expected: list[Vector] = []
    background: list[Vector] = []
    cornea: list[tuple[Vector, Vector]] = []
    for index, samples in sorted(by_step.items()):
        if index == 0 or index not in steps:
            continue
        step = steps[index].step
        means = _means(samples)
        response = {region: means[region] / baseline[region] - 1 for region in means if region in baseline}
        if "face" not in response:
            continue
        face_expected = _chroma(_expected(step, None))
        observed.append(_chroma(response["face"]))
        expected.append(face_expected)
        if "background" in response:
            background.append(_chroma(response["background"]))
        if "cornea" in response:
            cornea.append((_chroma(response["cornea"]), face_expected))
        if step.pattern is not LightPattern.FULL:
            first, second = ("left", "right") if step.pattern is LightPattern.LEFT_RIGHT else ("top", "bottom")
            if first in response and second in response:
                shape_seen.append(response[first] - response[second])
                shape_expected.append(_expected(step, first) - _expected(step, second))
    if not observed:
        return None
    seen, wanted = np.concatenate(observed), np.concatenate(expected)
    strength = _projection(seen, wanted)
    spatial = spatial_share = 0.0
    if shape_seen:
        d, e = np.concatenate(shape_seen), np.concatenate(shape_expected)
        spatial = _cosine(d, e)
        # The asymmetry's size against what the whole face's response predicts for it.
        spatial_share = _projection(d, e) / max(abs(strength), 1e-9)
    ratio = None
    if len(background) == len(observed):
        ratio = _projection(np.concatenate(background), wanted) / max(abs(strength), 1e-9)
    cornea_match = _cosine(np.concatenate([c for c, _ in cornea]), np.concatenate([e for _, e in cornea])) \
        if cornea else None
    shape = None
    if shape_seen:
        shape = ShapeEvidence(seen=tuple(float(v) for v in np.concatenate(shape_seen)),
                              expected=tuple(float(v) for v in np.concatenate(shape_expected)), strength=strength)
    return Fit(steps=len(observed), strength=strength, colour=_cosine(seen, wanted), spatial=spatial,
               spatial_share=spatial_share, background_ratio=ratio, cornea=cornea_match, shape=shape)


REGIONS = ("face", "left", "right", "top", "bottom", "background", "cornea")


def _means(samples: list[LightSample]) -> dict[str, Vector]:
    """Per region, the median over the frames that measured it (floored: a ratio follows)."""
    means: dict[str, Vector] = {}
    for region in REGIONS:
        values = [value for s in samples if (value := getattr(s, region)) is not None]
        if values:
            means[region] = np.maximum(np.median(np.array(values, dtype=np.float64), axis=0), 1e-4)
    return means


def _projection(a: Vector, b: Vector) -> float:
    """Least-squares scale of ``b`` that best explains ``a``."""
    return float(a @ b / max(float(b @ b), 1e-12))


def _expected(step: LightStep, region: str | None) -> Vector:
    """Relative change ``c - 1`` a region would show with all the light from the screen (g = 1)."""
    first, second = (np.array(linear_rgb(c)) for c in step.halves())
    if region is None:
        colour = (first + second) / 2
    elif region in ("left", "top"):
        colour = NEAR_HALF_SHARE * first + (1 - NEAR_HALF_SHARE) * second
    else:
        colour = NEAR_HALF_SHARE * second + (1 - NEAR_HALF_SHARE) * first
    result: Vector = colour - 1.0
    return result


def _chroma(vector: Vector) -> Vector:
    """The colour of a change without its brightness: an exposure change moves all channels alike."""
    result: Vector = vector - float(vector.mean())
    return result


def _cosine(a: Vector, b: Vector) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 1e-12 else 0.0
