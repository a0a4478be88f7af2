"""Settings of what a session asks of the person and of each frame: its limits, the region of
interest, each check's threshold, the active-liveness actions and the screen-light challenge."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator

from shared.settings.base import Group

# The largest `time-scale` a page may send (CONNECT, docs/protocol.md): five times each action's
# time is as slow as a person moving with great effort needs; an operator's cap comes below it.
MAX_TIME_SCALE = 5.0


class MultifacePolicy(IntEnum):
    ONLY_ONE = 0
    LARGEST = 1
    CLOSEST_TO_CENTER = 2


class SessionSettings(Group):
    max_attempts: int | None = Field(50, ge=1)
    max_liveness_attempts: int | None = Field(40, ge=1)
    aggregate_frames: int = Field(5, ge=1)
    accept_one_eye_open: bool = False
    previous_face_similarity: float | None = Field(0.85, ge=-1, le=1)
    multiface_policy: MultifacePolicy = MultifacePolicy.ONLY_ONE
    ttl_s: int = Field(
        900, ge=10,
        description="A session's state (and its reply stream) lives this long after its last frame.")
    audit_ttl_s: int = Field(7 * 86_400, ge=60, description=(
        "The session's audit stream (every decision) is kept this long, for the admin's session "
        "pages and `vigil replay`, well after the session itself expired."))


class RoiSettings(Group):
    """Region where the main face must be, in fractions of the frame (Table 13)."""

    center_x: float = Field(0.5, ge=0, le=1)
    center_y: float = Field(0.5, ge=0, le=1)
    width: float = Field(1.0, gt=0, le=1)
    height: float = Field(1.0, gt=0, le=1)


class ThresholdSettings(Group):
    """Table 14; ``None`` disables a check. Defaults follow the baseline where known."""

    blur: float | None = 0.61
    light: float | None = 0.57
    dark: float | None = 0.50
    illumination: float | None = 0.1
    specularity: float | None = 0.1
    face_width: int | None = 50
    face_height: int | None = 50
    margin: int | None = Field(
        2,
        description="Minimum distance in px from the face box to each frame border (the face must be whole).")
    min_frame_width: int | None = 320
    min_frame_height: int | None = 240
    yaw: float | None = 25.0
    pitch: float | None = 25.0
    roll: float | None = 25.0
    mouth: float | None = 0.5
    glasses: tuple[Literal["no_glasses", "eyeglasses", "sunglasses"], ...] = ("no_glasses", "eyeglasses")
    ags: float | None = 0.5
    liveness: float | None = 0.5
    deepfake: float | None = 0.5
    image_modification: float | None = 0.5
    detection: float = Field(0.6, ge=0, le=1, description="Minimum detector score for a face to count at all.")


class Interaction(StrEnum):
    """Active liveness actions (guide Table 15, plus smile and mouth open as options)."""

    BLINK = "blink"
    YAW_LEFT = "yaw_left"  # the person turns their head to their own left
    YAW_RIGHT = "yaw_right"
    PITCH_UP = "pitch_up"
    PITCH_DOWN = "pitch_down"
    SMILE = "smile"
    MOUTH_OPEN = "mouth_open"


class ActiveLivenessSettings(Group):
    is_enabled: bool = True
    cooldown_frames_count: int = Field(2, ge=0)
    interaction_list: tuple[Interaction, ...] = (
        Interaction.BLINK, Interaction.YAW_LEFT, Interaction.YAW_RIGHT, Interaction.PITCH_UP, Interaction.PITCH_DOWN,
    )
    interaction_count: int = Field(2, ge=1)
    interaction_order: Literal["random", "fixed"] = "random"
    yaw_start_deg: float = 10.0
    yaw_threshold_deg: float = 20.0
    pitch_start_deg: float = 10.0
    pitch_threshold_deg: float = 15.0
    accept_one_eye_open: bool = False
    interaction_timeout_s: float = Field(5.0, gt=0)
    max_time_scale: float = Field(2.0, ge=1, le=MAX_TIME_SCALE, description=(
        "The most extra time a person may ask for (CONNECT `time-scale`, docs/protocol.md; WCAG "
        "2.2.1): each action's timeout is multiplied by the page's scale up to this. 1: none. More "
        "time also gives a live face swap more time to follow a prompt, so it stays bounded."))
    max_timeouts: int = Field(
        3, ge=0,
        description="Timed-out actions allowed per session before it ends (code 97, close 4000).")
    parallax_min_residual: float | None = Field(0.12, description=(
        "A turn or tilt counts only if the face landmarks moved like a 3-D head, not like a flat "
        "picture: the estimator's parallax residual (in inter-ocular distances) must reach this. "
        "Measured (docs/plugins.md): genuine full turns 0.14-0.43; flat prints tilted 55-60 degrees "
        "up to 0.10-0.13 (synthetic tilts): 0.12 refuses most of them, with a thin margin."))
    smile_threshold: float = Field(0.5, ge=0, le=1)
    mouth_open_threshold: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _count_fits_list(self) -> Self:
        if self.interaction_count > len(self.interaction_list):
            raise ValueError("active_liveness.interaction_count exceeds the interaction_list")
        return self


class LightChallengeSettings(Group):
    """The screen-light challenge (docs/plugins.md, "LightChallenge"). Thresholds are provisional:
    set from a SIMULATED evaluation (docs/evaluation.md) until real recordings calibrate them."""

    is_enabled: bool = Field(True, description=(
        "On since the SIMULATED evaluation met its goals (docs/evaluation.md, 2026-12-07: no "
        "genuine person refused from 20 to 2000 lux, no attack kind earned the light). The check "
        "page runs it before the actions; clients that do not paint it take the no-light path "
        "(allow_decline)."))
    allow_decline: bool = Field(True, description=(
        "The person may decline the light (photosensitivity) and take the actions-only path; a "
        "client that cannot show the light (no ``light`` header) is on that path too. False: light "
        "is required, and such sessions end with code 103."))
    min_steps: int = Field(9, ge=3, le=20, description=(
        "Nine steps at least, 85 % of them split, four in five of those left/right: the left/right "
        "shape is the faint part of the response (a screen subtends +-20 degrees at 40 cm), judged "
        "on the left/right splits alone, and its noise shrinks with each one (docs/evaluation.md: "
        "on 8-10 steps, three in four split, three in four of those left/right, a SIMULATED swap in "
        "12 reached it)."))
    max_steps: int = Field(11, ge=3, le=20, description="Steps at most (the count is drawn between the two).")
    min_step_ms: int = Field(250, ge=250)  # 4 steps a second at most; shared/light.py keeps <= 3 changes
    max_step_ms: int = Field(500, ge=250, le=2000)
    baseline_ms: int = Field(800, ge=300, le=3000, description=(
        "The white screen before the first step: the camera's exposure settles, the baseline is "
        "read."))
    split_share: float = Field(0.85, ge=0, le=1)  # share of split (left/right, top/bottom) steps
    vertical_split_share: float = Field(0.2, ge=0, le=1, description=(
        "... of which top/bottom: shown for their colours and unpredictability, but only left/right "
        "is judged for shape (the panel lies below the face: top/bottom is faint, "
        "light_correlator.py)."))
    max_lag_frames: int = Field(0, ge=0, le=5, description=(
        "Frames of lag allowed between a step's display and its response. The page captures a frame "
        "taken after the paint, so a real camera answers in the very next frame; an injected stream "
        "re-rendered elsewhere answers later. For frames without the page's capture and paint times "
        "(a client that sends only the step)."))
    max_lag_ms: float = Field(60.0, ge=0, le=500, description=(
        "With them: milliseconds from the paint to the picture showing it, at most. The page tags a "
        "frame captured 60 ms after the paint (the display's own 10-40 ms and an exposure), so up "
        "to 60 a camera is indistinguishable from none; a stream re-rendered elsewhere adds 100 ms "
        "and more."))
    max_response_s: float = Field(1.5, gt=0, description=(
        "Seconds from sending a step to receiving the frame that shows it, at most (network + "
        "camera)."))
    min_response: float = Field(0.02, ge=0, description=(
        "Below this relative chromatic response the room is too bright (or the screen too dim) to "
        "judge: a prompt and a fresh sequence, not an attack."))
    min_colour_match: float = Field(
        0.6, ge=-1, le=1,
        description="Cosine between observed and expected colour changes over the steps.")
    min_spatial_match: float = Field(0.5, ge=-1, le=1, description=(
        "Cosine between the observed and expected left/right and top/bottom differences on split "
        "steps. Short of either shape threshold the evidence is inconclusive (a retry), not an "
        "attack: genuine shape is faint and noisy in the SIMULATED evaluation (docs/evaluation.md)."))
    min_spatial_share: float = Field(0.35, ge=0, description=(
        "... and their size as a share of what the face's whole response predicts (1: as large as a "
        "face whose cheeks get 62 % of their screen light from their own side, the forehead 55 % "
        "from the top); a flat print (about 0.2: only its position) or a re-rendered face is lit "
        "evenly."))
    max_background_ratio: float = Field(0.7, gt=0, description=(
        "Background response over face response at most: a whole-frame tint (a screen filmed while "
        "the flash lights it) answers as strongly beside the face as on it."))
    min_failure_response: float = Field(0.1, ge=0, description=(
        "The physics is said to be contradicted (a tint, a late lag: the session ends) only on a "
        "response at least this strong: below it the background ratio and the best lag are noise "
        "(genuine people in 300-2000 lux rooms reached ratios of 0.7-1.05 and an 80 ms lag in the "
        "SIMULATED evaluation; a lit screen filmed answered 0.16 and more); weaker is too weak to "
        "judge (a retry, then the no-light path)."))
    max_pose_change_deg: float = Field(
        12.0, gt=0,
        description="Frames turned away more than this from the baseline pose are not used for the light.")
    max_retries: int = Field(2, ge=0, description=(
        "Fresh sequences after a too-weak, unmeasurable or shapeless response, then the no-light "
        "path (allow_decline) or the end of the session (101 or 102)."))
    record: bool = Field(False, description=(
        "Keep each session's light steps, timings and frames under recordings_path for calibration "
        "(``vigil eval light --from-recordings``). Frames are personal data: off unless "
        "calibrating."))
    recordings_path: Path = Path("var/light-recordings")

    @model_validator(mode="after")
    def _ranges(self) -> Self:
        if self.min_steps > self.max_steps or self.min_step_ms > self.max_step_ms:
            raise ValueError("light_challenge: min_steps/min_step_ms must not exceed max_steps/max_step_ms")
        return self
