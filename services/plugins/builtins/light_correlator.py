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
  **colour match**: their cosine over all steps; both for each assumed lag between the screen and
  the picture. With the page's capture and paint times, the lag is in milliseconds
  (``DELAYS_MS``): a frame captured at ``t`` shows the step painted last before ``t - lag``, so
  a stream re-rendered 100 ms late is told apart from a camera even when both answer "in the next
  frame"; without them, in whole frames (0..``MAX_LAG_SEARCHED``). No lag with both high enough:
  too little light came back to judge (a bright room, a dim screen, or no light at all: a replay):
  the caller retries, it is not called an attack. The best matching lag must be within
  ``max_lag_ms`` (``max_lag_frames``).
* **spatial match** on the left/right steps: the left-minus-right response against the two
  halves' colour difference, both *chromatic* (their mean over channels removed: a head that turns
  a little, or the exposure, brightens one side in every channel alike, while the screen's halves
  differ in colour), less the same difference on the steps that light both sides alike; its
  cosine, and its size as a share of the whole response (a flat print or a re-rendered face is
  lit almost evenly), pooled over the session's sequences. Top/bottom is reported, not judged
  (``JUDGED_AXIS``).
* **background ratio**: the background band's response over the face's; near 1 for a whole-frame
  tint (a screen filmed while the flash lights it).
"""

from __future__ import annotations

import bisect
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
# Lags tried when frames carry capture and paint times: finer than the page's frame spacing (100-250
# ms), up to the injection latencies the evaluation plays (docs/evaluation.md).
DELAYS_MS = (0.0, 40.0, 80.0, 120.0, 160.0, 200.0, 300.0, 400.0, 500.0)
LAG_MARGIN = 0.05  # colour-match cosine by which a later lag must beat lag 0
BASELINE_FRAMES = 2  # the last frames of the white step: the exposure has settled by then
# Which half lights a region most: the near half's share of the region's screen light (the rest
# comes from the far half). A screen 30 cm wide at 30-60 cm lights skin facing sideways
# (|normal x| > 0.2) 0.57-0.64 from its own side; the panel lies below the face, so the forehead
# gets ~0.6 of its light from the top half and the chin only ~0.5 from the bottom one
# (docs/evaluation.md).
NEAR_HALF_SHARE = {LightPattern.LEFT_RIGHT: 0.62, LightPattern.TOP_BOTTOM: 0.55}
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
    # The page's clock (ms): when it captured the frame, and when it painted the step ``shown``.
    captured_ms: float | None = None
    painted_ms: float | None = None


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
    timed = _timed(observations)
    lags = DELAYS_MS if timed else tuple(float(lag) for lag in range(MAX_LAG_SEARCHED + 1))
    paints = _paints(observations)

    def assign(lag: float) -> list[tuple[int, Observation]]:
        return _assign_delayed(observations, paints, lag) if timed else _assign(observations, int(lag))

    fits: dict[float, Fit] = {}
    for lag in lags:
        if (fit := _fit(steps, assign(lag))) is not None:
            fits[lag] = fit
    measured = fits.get(0.0)
    if measured is None:
        return Result(Outcome.UNMEASURED, {})
    cues = {**measured.cues(), "response_s": _response_s(steps, assign(0.0))}
    lag_cue, max_lag = ("lag_ms", options.max_lag_ms) if timed else ("lag_frames", float(options.max_lag_frames))
    wanted = options.min_steps - 2  # a step or two may go unmeasured (a blink, a frame lost)
    if measured.steps < max(3, wanted):
        return Result(Outcome.UNMEASURED, cues)
    # Lags at which the screen's colours came back, strongly enough: none means too little light to
    # judge (a bright room, a dim screen, a camera that adapts) or none at all (a replay), never a
    # verdict of attack on its own. A later lag wins only clearly: frames within one step look alike.
    matched = [lag for lag, fit in fits.items()
               if fit.colour >= options.min_colour_match and fit.strength >= options.min_response]
    if not matched:
        return Result(Outcome.TOO_WEAK, {**cues, lag_cue: -1.0})
    best = max(matched, key=lambda lag: fits[lag].frame_colour - (0 if lag == 0 else LAG_MARGIN))
    cues[lag_cue] = best
    if cues["response_s"] > options.max_response_s:
        return Result(Outcome.LATE, cues)
    # A faint response makes the best lag and the background ratio noise (a bright room): too weak
    # to judge, never a verdict of attack.
    if best > max_lag:
        late = fits[best].strength >= options.min_failure_response
        return Result(Outcome.LATE if late else Outcome.TOO_WEAK, cues)
    if measured.background_ratio is not None and measured.background_ratio > options.max_background_ratio:
        tint = measured.strength >= options.min_failure_response
        return Result(Outcome.TINT if tint else Outcome.TOO_WEAK, cues)
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


def _timed(observations: Sequence[Observation]) -> bool:
    """Every tagged frame carries the page's capture and paint times."""
    tagged = [o for o in observations if o.shown is not None]
    return bool(tagged) and all(o.captured_ms is not None and o.painted_ms is not None for o in tagged)


def _paints(observations: Sequence[Observation]) -> list[tuple[float, int]]:
    """(paint time, step) as the page reported them with its tags, in time order."""
    return sorted({(o.painted_ms, o.shown) for o in observations if o.shown is not None and o.painted_ms is not None})


def _assign_delayed(observations: Sequence[Observation], paints: list[tuple[float, int]],
                    delay_ms: float) -> list[tuple[int, Observation]]:
    """(step, observation) pairs when each frame shows the step painted last before its capture
    time less ``delay_ms``."""
    times = [at for at, _ in paints]
    pairs = []
    for observation in observations:
        if observation.sample is None or observation.shown is None or observation.captured_ms is None:
            continue
        latest = bisect.bisect_right(times, observation.captured_ms - delay_ms) - 1
        if latest >= 0:
            pairs.append((paints[latest][1], observation))
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
    # The colour match frame by frame, not of each step's median: the median shrugs off a step's
    # first frame showing the previous step, which is exactly what a stream ~100 ms late looks like.
    frame_colour: float = 0.0
    vertical_share: float | None = None  # top/bottom, reported only (JUDGED_AXIS)

    def cues(self) -> dict[str, float]:
        values = {"steps": float(self.steps), "strength": self.strength, "colour_match": self.colour,
                  "spatial_match": self.spatial, "spatial_share": self.spatial_share}
        if self.background_ratio is not None:
            values["background_ratio"] = self.background_ratio
        if self.cornea is not None:
            values["cornea_match"] = self.cornea
        if self.vertical_share is not None:
            values["vertical_share"] = self.vertical_share
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
    differences: dict[LightPattern, list[tuple[Vector, bool, Vector]]] = {pattern: [] for pattern in AXES}
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
        for pattern, (first, second) in AXES.items():
            if first in response and second in response:
                split = step.pattern is pattern
                differences[pattern].append((_chroma(response[first] - response[second]), split,
                                             _chroma(_expected(step, first) - _expected(step, second))))
    if not observed:
        return None
    vertical: list[tuple[Vector, Vector]] = []
    for pattern, rows in differences.items():
        # Steps that light both sides of an axis alike (full steps, the other axis's splits) show
        # the sides' own difference from the baseline (noise in its two frames, a slow drift), not
        # the screen's: their mean is taken off the splits' differences.
        control = [d for d, split, _ in rows if not split]
        offset = np.mean(control, axis=0) if control else 0.0
        for d, split, e in rows:
            if split and pattern is JUDGED_AXIS:
                shape_seen.append(d - offset)
                shape_expected.append(e)
            elif split:
                vertical.append((d - offset, e))
    frame_seen, frame_wanted = [], []
    for index, observation in assigned:
        if index and index in steps and observation.sample is not None:
            face = np.maximum(np.array(observation.sample.face, dtype=np.float64), 1e-4)
            frame_seen.append(_chroma(face / baseline["face"] - 1))
            frame_wanted.append(_chroma(_expected(steps[index].step, None)))
    seen, wanted = np.concatenate(observed), np.concatenate(expected)
    strength = _projection(seen, wanted)
    spatial = spatial_share = 0.0
    if shape_seen:
        d, e = np.concatenate(shape_seen), np.concatenate(shape_expected)
        spatial = _cosine(d, e)
        # The asymmetry's size against what the whole face's response predicts for it.
        spatial_share = _projection(d, e) / max(abs(strength), 1e-9)
    vertical_share = None
    if vertical:
        dv, ev = np.concatenate([v for v, _ in vertical]), np.concatenate([x for _, x in vertical])
        vertical_share = _projection(dv, ev) / max(abs(strength), 1e-9)
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
               spatial_share=spatial_share, background_ratio=ratio, cornea=cornea_match, shape=shape,
               frame_colour=_cosine(np.concatenate(frame_seen), np.concatenate(frame_wanted)),
               vertical_share=vertical_share)


AXES = {LightPattern.LEFT_RIGHT: ("left", "right"), LightPattern.TOP_BOTTOM: ("top", "bottom")}
# The shape is judged left/right only. Top/bottom steps stay in the sequence (their colours count,
# and an attacker cannot know which comes), but the panel lies below the face: forehead and chin
# differ by ~55/45 against the cheeks' ~62/38, and in the SIMULATED evaluation their difference was
# noise (genuine p10-p90 -0.02..2.0, prints -0.25..0.72, against 0.42..1.25 and 0.06..0.22 left/right).
# It is reported (``vertical_share``), not judged.
JUDGED_AXIS = LightPattern.LEFT_RIGHT
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
    else:
        near = NEAR_HALF_SHARE.get(step.pattern, 0.5)
        if region not in ("left", "top"):
            first, second = second, first
        colour = near * first + (1 - near) * second
    result: Vector = colour - 1.0
    return result


def _chroma(vector: Vector) -> Vector:
    """The colour of a change without its brightness: an exposure change moves all channels alike."""
    result: Vector = vector - float(vector.mean())
    return result


def _cosine(a: Vector, b: Vector) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norm) if norm > 1e-12 else 0.0
