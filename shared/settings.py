"""Settings: one object per process, built once in ``main()`` and passed down.

Every value comes from ``VIGIL_*`` environment variables (nested groups with ``__``, e.g.
``VIGIL_SESSION__MAX_ATTEMPTS=30``). Groups and names follow the baseline administrator guide's
tables (11-17) so an operator who knows that guide finds them. Unknown keys are rejected, in
groups and at the top level. ``docs/settings.md`` lists every setting with its default.
"""

from __future__ import annotations

import os
import re
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.client_address import ProxySettings
from shared.errors import ConfigError
from shared.secrets_rules import describe, describe_parse_error, weak_key

ENV_PREFIX = "VIGIL_"
INSECURE_KEYS = frozenset({"", "secret", "changeme", "change-me", "password"})
# An origin as browsers compare them: scheme, host (or a *. subdomain wildcard), optional port.
ORIGIN_PATTERN = re.compile(r"^https?://(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$")
# The largest `time-scale` a page may send (CONNECT, docs/protocol.md): five times each action's
# time is as slow as a person moving with great effort needs; an operator's cap comes below it.
MAX_TIME_SCALE = 5.0


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Env(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class MultifacePolicy(IntEnum):
    ONLY_ONE = 0
    LARGEST = 1
    CLOSEST_TO_CENTER = 2


class RedisSettings(Group):
    """Where Redis is, one of three ways (at most one is set; none: the embedded Redis of `vigil
    run`). `URL`: `redis://[user:password@]host:port/db`, `rediss://` for TLS, `unix://`. `HOST`
    with `PORT`, `USERNAME`, `PASSWORD`, `DB`, `TLS`: the same in parts. `SENTINEL_MASTER_NAME`
    with `SENTINELS` (JSON list of `"host:port"`): the master that Redis Sentinel names, found again
    after a failover; `USERNAME`/`PASSWORD`/`DB`/`TLS` are the master's, `SENTINEL_USERNAME`/
    `SENTINEL_PASSWORD` the sentinels' own. Every process connects through `shared/redis_connect.py`
    (docs/deployment.md)."""

    url: str | None = Field(
        None,
        description="None (and no host, no sentinel): the launcher starts an embedded redis-server under var/.")
    host: str | None = Field(None, min_length=1)
    port: int = Field(6379, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    db: int = Field(0, ge=0)
    tls: bool = False
    tls_ca_file: Path | None = Field(
        None,
        description="A private CA's bundle for a TLS Redis (None: the system's trust store).")
    sentinel_master_name: str | None = Field(None, min_length=1)
    sentinels: tuple[str, ...] = ()
    sentinel_username: str | None = None
    sentinel_password: SecretStr | None = None
    keepalive_idle_s: int = Field(5, ge=1, description=(
        "A dead peer (host gone, no TCP reset) is noticed after about idle + interval x count "
        "seconds, even inside a blocking read; the client then reconnects (through the sentinels: "
        "the new master)."))
    keepalive_interval_s: int = Field(2, ge=1, description="Seconds between keepalive probes (see keepalive_idle_s).")
    keepalive_count: int = Field(3, ge=1, description="Unanswered probes before the connection counts as dead.")
    embedded_port: int = Field(6399, ge=1, le=65535)
    embedded_maxmemory_mb: int = Field(1024, ge=0, description=(
        "The embedded Redis's memory bound (0: none); at the bound writes fail rather than evict "
        "(infra/redis_server.py, docs/operations.md). 1 GiB holds the frames stream's age bound at "
        "the measured capacity with room to spare."))
    key_prefix: str = Field(
        "vigil",
        description="Every key and stream name starts with this; tests give each test its own prefix.")

    @field_validator("sentinels")
    @classmethod
    def _addresses(cls, sentinels: tuple[str, ...]) -> tuple[str, ...]:
        for address in sentinels:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"a sentinel is \"host:port\", not {address!r}")
        return sentinels

    @model_validator(mode="after")
    def _one_way(self) -> RedisSettings:
        ways = [name for name, value in (("URL", self.url), ("HOST", self.host),
                                         ("SENTINEL_MASTER_NAME", self.sentinel_master_name)) if value]
        if len(ways) > 1:
            raise ValueError(f"set one of URL, HOST, SENTINEL_MASTER_NAME, not {' and '.join(ways)}")
        if self.sentinel_master_name and not self.sentinels:
            raise ValueError("SENTINEL_MASTER_NAME needs SENTINELS (a JSON list of \"host:port\")")
        return self

    @property
    def is_embedded(self) -> bool:
        """No Redis configured: `vigil run` starts its own."""
        return not (self.url or self.host or self.sentinel_master_name)


class IngressSettings(Group):
    host: str = "127.0.0.1"
    port: int = Field(8321, ge=1, le=65535)
    max_message_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Size limit of a WebSocket message.")
    max_header_bytes: int = Field(4096, ge=256, description="Size limit of a message's header block.")
    max_image_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Size limit of a decoded image.")
    max_image_pixels: int = Field(4096 * 4096, ge=64 * 64, description="Size limit of an image's pixel count.")
    min_image_side: int = Field(64, ge=16)
    reply_timeout_s: float = Field(
        15.0, gt=0,
        description="Seconds the ingress waits for a frame's decision before answering ERROR (never a hang).")
    connect_timeout_s: float = Field(10.0, gt=0, description=(
        "A WebSocket that has not sent CONNECT this many seconds after opening is closed (4006), "
        "and so is a connected session with no FRAME for idle_timeout_s (None: never): an idle "
        "socket holds memory and a place under admission. The page resumes such a session when it "
        "sends again."))
    idle_timeout_s: float | None = Field(120.0, gt=0)
    max_connections: int = Field(1000, ge=1, description=(
        "Open WebSockets per ingress process, CONNECTed or not; one more is refused with ERROR 1020 "
        "and close 1013, as for load (docs/protocol.md)."))
    min_heartbeat_ms: int = Field(100, ge=10, description="The shortest heartbeat period a client may ask for, in ms.")
    max_heartbeat_ms: int = Field(60_000, ge=100, description="The longest heartbeat period a client may ask, in ms.")
    frame_ancestors: tuple[str, ...] = Field(("'self'",), min_length=1, description=(
        "Who may put the check page in a frame (CSP frame-ancestors; also Permissions-Policy camera "
        "and, where it can say the same, X-Frame-Options): \"'self'\", \"'none'\", or origins such as "
        "\"https://shop.example\" (JSON list). Anyone else's frame stays empty (clickjacking the "
        "camera)."))

    @field_validator("frame_ancestors")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "'none'" in value and len(value) > 1:
            raise ValueError("'none' cannot be combined with other frame ancestors")
        for item in value:
            if item not in ("'self'", "'none'") and not ORIGIN_PATTERN.match(item):
                raise ValueError("each frame ancestor is 'self', 'none' or an origin like https://shop.example")
        return value


class AdmissionSettings(Group):
    """Graceful overload (docs/protocol.md, code 1020): each ingress admits new sessions up to a
    limit that grows while recent replies are fast and shrinks when they are slow or frames queue
    up for the estimators (additive increase, multiplicative decrease). A session already admitted,
    or resumed with its session-id, is never refused or dropped for load."""

    is_enabled: bool = True
    p95_budget_ms: float = Field(
        300.0, gt=0,
        description="The server-side reply time (FRAME received -> reply sent) whose p95 must stay under this.")
    grow_below_share: float = Field(0.6, gt=0, lt=1, description=(
        "The limit grows only while the recent p95 is under this share of the budget (headroom for "
        "the sessions just admitted, whose cost shows only after they start sending)."))
    shrink_above_share: float = Field(0.85, gt=0, le=1, description=(
        "The limit shrinks once the recent p95 is over this share of the budget: it reacts to a "
        "window already past, so the p95 people see overshoots what it reacts to (measured: "
        "shrinking at 100 % gave a client-side p95 of 322 ms at twice the capacity against a 300 ms "
        "budget)."))
    max_backlog_frames: int = Field(
        30, ge=1,
        description="Frames published and not yet finished by the estimators beyond which the limit shrinks.")
    window_s: float = Field(
        5.0, ge=1,
        description="How far back the p95 looks; the limit is reconsidered every half of it.")
    initial_sessions: int = Field(4, ge=1)
    min_sessions: int = Field(2, ge=1)
    max_sessions: int | None = Field(
        None, ge=1,
        description="A hard cap on this ingress's open sessions whatever the latency says; None: none.")
    retry_after_s: int = Field(
        5, ge=1, le=300,
        description="Seconds a refused client is told to wait (the check page counts them down, then retries).")

    @model_validator(mode="after")
    def _grow_under_shrink(self) -> AdmissionSettings:
        if self.grow_below_share >= self.shrink_above_share:
            raise ValueError("admission.grow_below_share must be under admission.shrink_above_share")
        return self


class AbuseSettings(Group):
    """Abuse limits of the ingress (docs/protocol.md, code 1022), shared by every ingress through
    Redis. A failed session is one the service ended without success (attempts spent, a fake, the
    face changed); a dropped connection is not one. The defaults follow AWS's published guidance for
    Face Liveness: at most 5 failed checks per device in 3 minutes, then a wait of 30-60 minutes."""

    is_enabled: bool = True
    window_s: int = Field(180, ge=10)
    max_failures_per_device: int = Field(
        5, ge=1,
        description="Per device (the page's stable random id) and per relying-party user key.")
    max_failures_per_address: int = Field(20, ge=1, description=(
        "Per client address: higher, since many people can share one (an office, a mobile carrier's "
        "NAT)."))
    block_s: int = Field(1800, ge=10)
    max_sessions_per_address: int = Field(10, ge=1, description="Sessions one address may have open at once.")
    max_new_sessions_per_minute: int = Field(30, ge=1, description="New sessions one address may start per minute.")


class AdminSettings(Group):
    host: str = "127.0.0.1"
    port: int = Field(8322, ge=1, le=65535)
    session_ttl_s: int = Field(
        8 * 3600, ge=300,
        description="A sign-in lasts this long (absolute: cookie and Redis record expire together).")
    max_failures_per_user: int = Field(5, ge=1, description=(
        "Failed sign-ins per user name within signin_window_s before that user is locked for the "
        "rest of the window (other users are never affected)."))
    max_failures_per_address: int = Field(20, ge=1, description=(
        "Failed sign-ins per client address within the window before its sign-ins are slowed down "
        "(a delay doubling per further failure, up to max_signin_delay_s); never refused, so a "
        "shared address (an office, a proxy) cannot lock everyone out."))
    max_signin_delay_s: float = Field(10.0, ge=0, le=60)
    signin_window_s: int = Field(900, ge=60)
    secure_cookies: bool = Field(False, description="Behind HTTPS: the session cookie then travels only over TLS.")
    ingress_url: str | None = Field(
        None,
        description="Base URL of the check page for \"view site\"; None: http://<ingress.host>:<ingress.port>.")


class JwtSettings(Group):
    algorithm: Literal["HS256", "HS384", "HS512", "RS256", "ES256"] = "HS256"
    key: SecretStr | None = Field(None, description=(
        "HS*: the shared secret. No default ships: production refuses to start without one; in "
        "development a random one is generated on first start and kept in ``key_file``."))
    key_file: Path = Path("var/secrets/jwt.key")
    private_key_file: Path | None = Field(
        None,
        description="RS256 / ES256: PEM private key (the decider signs); relying parties get the public key.")
    kid: str | None = Field(None, description="Key id put in the token header so relying parties can rotate keys.")
    ttl_s: int = Field(600, ge=1)
    issuer: str | None = Field(
        None, min_length=1, max_length=200,
        description="``iss`` in every token (e.g. the service's URL); None: no ``iss``.")
    audience: str | tuple[str, ...] | None = Field(None, description=(
        "``aud``: the relying party (or a JSON list of them) the tokens are for; a UI config's own "
        "``audience`` replaces it for sessions started from that config. None: no ``aud``."))
    claims: Literal["full", "minimal"] = Field("full", description=(
        "full: the baseline's payload (best shot, every score); minimal: verdict, ids, evidence "
        "sources and defences, under 2 KB (recommended in production): the relying party's backend "
        "fetches the best shot and report by ``jti`` from GET /api/results/{jti} (docs/decider.md)."))
    results_key: SecretStr | None = Field(None, description=(
        "The relying party's credential for GET /api/results/{jti} (``Authorization: Bearer KEY``); "
        "None: that endpoint answers 404 for every jti."))


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


class VirtualCameraCheckerSettings(Group):
    is_enabled: bool = True
    fail_on_detection: bool = Field(
        False,
        description="Detections are always logged and reported; with this they also fail the frame (code 81).")
    page_jpeg_quality: int | None = Field(90, ge=1, le=100, description=(
        "The JPEG quality the check page encodes frames at (vigil.js jpegQuality 0.9): a frame with "
        "the IJG tables of another quality was not encoded by that page. Set it to an integrator's "
        "own jpegQuality x 100; None accepts any IJG quality (docs/plugins.md, \"JPEG traits\")."))


class FileLoggerSettings(Group):
    is_enabled: bool = True
    path: Path = Path("var/logs/sessions")
    retention_s: int = Field(
        7 * 86_400, ge=60,
        description="Session folders older than this are deleted; beyond max_bytes the oldest go first.")
    max_bytes: int = Field(2 * 1024**3, ge=1024**2)
    wait_ms: int = Field(1000, ge=0, description=(
        "Stage-5 ordering (docs/plugins.md): the decider waits up to this long for the logger to "
        "have written the previous frame and its answer before deciding the next frame, and the "
        "session's frames before publishing its final answer. A lapse is logged and the rest of "
        "that session no longer waits (a dead logger costs one wait per session, never a hang). 0: "
        "no waiting."))


class VideoRedisSettings(Group):
    is_enabled: bool = True


class VideoSettings(Group):
    codec: Literal["H264", "H265", "VP9"] = "H265"
    frames_limit: int = Field(0, ge=0)
    expires: int = Field(3600, ge=1)
    result_ttl: int = Field(86_400, ge=1)
    session_timeout: int = Field(60, ge=0)
    storage: Path = Path("var/videos")
    lock_ms: int = Field(
        30_000, ge=1000,
        description="A builder's claim on a session; renewed while encoding, taken over when it lapses.")
    task_hook: str | None = Field(
        None,
        description="Dotted path of a callable ``hook(record: VideoMessage) -> None`` run after each video.")


class DeciderSettings(Group):
    plugin_wait_ms: int = Field(1500, ge=0, description=(
        "How long a frame's decision waits for the stage-3 plugins' verdicts before it goes on "
        "without them (a missing verdict blocks success on that frame)."))


class PluginsSettings(Group):
    """The plugins service (services/plugins/) and third-party plugins (docs/plugins.md)."""

    extra: tuple[str, ...] = Field((), description=(
        "Third-party plugins by entry-point name (group ``vigil.plugins``); every frame waits for "
        "them."))
    timeout_ms: int = Field(
        1000, ge=1,
        description="A plugin slower than this on a frame is treated by ``failure_policy``.")
    failure_policy: Literal["fail", "skip"] = Field("fail", description=(
        "What a plugin that raises or times out means for the frame: \"fail\" blocks success on it "
        "(safe default), \"skip\" ignores the plugin for that frame."))


class OnnxEvidenceSettings(Group):
    """An operator's own ONNX model for liveness, deepfake or image modification (docs/evidence.md)."""

    path: Path
    sha256: str | None = None
    input_name: str
    input_size: tuple[int, int]
    output_name: str
    genuine_index: int = Field(ge=0)
    channel_order: Literal["RGB", "BGR"] = "RGB"
    scale: float = 1 / 255
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    crop_scale: float = Field(1.0, gt=0)
    output_kind: Literal["logits", "probabilities"] = "logits"


class EstimatorSettings(Group):
    models_dir: Path = Path("var/models")
    device: Literal["auto", "cpu", "gpu"] = Field(
        "auto",
        description="auto: CuPy + CUDA provider when a GPU is usable, else NumPy + CPU provider.")
    intra_op_threads: int = Field(1, ge=0, description=(
        "onnxruntime threads per model call; 1 is fastest on small models when other processes "
        "share the cores (measured: 2 threads on a busy 2-core machine doubled the mesh and iris "
        "times). Scale with one estimator process per core instead (vigil run --scale estimator=N). "
        "0 = all cores."))
    batch_size: int = Field(8, ge=1)
    liveness_model: OnnxEvidenceSettings | None = Field(None, description=(
        "An operator's model replacing the default liveness evidence (JSON, e.g. "
        "VIGIL_ESTIMATOR__LIVENESS_MODEL='{...}')."))
    deepfake_model: OnnxEvidenceSettings | None = Field(
        None, description="An operator's model replacing the default deepfake evidence (JSON, as liveness_model).")
    image_modification_model: OnnxEvidenceSettings | None = Field(None, description=(
        "An operator's model replacing the default image-modification evidence (JSON, as liveness_model)."))
    descriptor_every: int = Field(3, ge=1, description=(
        "The SFace descriptor (~15 ms) for the FaceMatcher on near-frontal frames whose number is a "
        "multiple of N only: a face swapped in is caught at the next such frame, and the "
        "FaceMatcher holds success back on a frontal frame without a descriptor (docs/plugins.md). "
        "1 = every frame."))
    detect_every: int = Field(3, ge=1, description=(
        "The face detector (~4.5 ms) on a session's frame only every Nth frame and on the frames "
        "due for a descriptor; between, the face mesh of the previous frame places the face (as "
        "MediaPipe tracks), and the detector runs at once when the mesh loses it "
        "(services/estimator/tracking.py). A second face entering the view is seen up to N-1 "
        "frames late. 1 = every frame."))
    image_modification_every: int = Field(3, ge=1, description=(
        "JPEG forensics for image modification (services/estimator/evidences/modification.py). It "
        "costs ~18 ms a frame and a session's capture path does not change between frames: measure "
        "every Nth."))
    ela_quality: int = Field(90, ge=50, le=99)
    ghost_min_quality: int = Field(50, ge=1, le=95)
    ghost_step: int = Field(2, ge=1, le=10)


class LoggingSettings(Group):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = Field("text", description=(
        "\"json\": one JSON object per line (time, level, logger, message, process) for a log "
        "collector; chosen at start (environment only), while the level stays live."))


class MetricsSettings(Group):
    """Prometheus metrics and health probes (docs/monitoring.md): each process serves `/metrics`,
    `/health/live` and `/health/ready` on a port of its own."""

    host: str = Field(
        "127.0.0.1",
        description="The address the endpoint listens on (\"0.0.0.0\" for a scraper or a probe on another host).")
    port: int | None = Field(
        None, ge=0, le=65535,
        description="This process's port; 0 or null: no endpoint. Processes started by hand need one each.")
    launcher_first_port: int | None = Field(9460, ge=0, le=65535, description=(
        "`vigil run` gives its processes consecutive ports from this one, in its start order "
        "(ingress, estimators, decider, plugins, videobuilder, admin); 0 or null: none."))
    sample_interval_s: float = Field(2.0, gt=0, le=60, description=(
        "How often Redis is pinged (readiness) and the streams' length, lag and pending are "
        "sampled."))


class BusSettings(Group):
    """The consumer loop shared by every service (see shared/consumer.py)."""

    block_ms: int = Field(1000, ge=1)
    claim_idle_ms: int = Field(
        5000, ge=100,
        description="Entries pending longer than this are taken over from a dead consumer with XAUTOCLAIM.")
    max_deliveries: int = Field(
        5, ge=1,
        description="After this many deliveries an entry is parked in the dead-letter stream.")
    stream_maxlen: int = Field(
        10_000, ge=100,
        description="Approximate MAXLEN of the shared streams (frames, estimations).")
    frames_max_age_s: int = Field(300, ge=10, description=(
        "The streams that carry images (frames, estimations) are also trimmed by age and by size "
        "(shared/retention.py): entries older than this go (the video builder and the FileLogger "
        "copy what they need long before; a consumer lagging past half of it is logged) ..."))
    frames_max_mb: int = Field(512, ge=8, description=(
        "... and its entries are bounded so that, at the mean size of recent frames, it holds about "
        "this many MiB (4 MB frames: ~128 entries; the page's ~50 KB frames: the count bound above "
        "applies)."))
    reply_maxlen: int = Field(100, ge=10, description="Approximate MAXLEN of a per-session reply stream.")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True,
        case_sensitive=False, env_parse_none_str="null",
    )

    env: Env = Field(Env.PRODUCTION, description=(
        "production refuses to start without a JWT key; development generates one, and replies carry the scores."))
    config_tag: str = Field("default", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description=(
        "Which stored live settings this process applies on top of its environment (shared/live_config.py); "
        "an ingress stamps it on every frame, so the frame is decided with that tag's settings."))
    redis: RedisSettings = RedisSettings()
    ingress: IngressSettings = IngressSettings()
    admission: AdmissionSettings = AdmissionSettings()
    admin: AdminSettings = AdminSettings()
    proxy: ProxySettings = ProxySettings()
    abuse: AbuseSettings = AbuseSettings()
    jwt: JwtSettings = JwtSettings()
    session: SessionSettings = SessionSettings()
    roi: RoiSettings = RoiSettings()
    thresholds: ThresholdSettings = ThresholdSettings()
    active_liveness: ActiveLivenessSettings = ActiveLivenessSettings()
    light_challenge: LightChallengeSettings = LightChallengeSettings()
    virtual_camera_checker: VirtualCameraCheckerSettings = VirtualCameraCheckerSettings()
    file_logger: FileLoggerSettings = FileLoggerSettings()
    video_redis: VideoRedisSettings = VideoRedisSettings()
    video: VideoSettings = VideoSettings()
    decider: DeciderSettings = DeciderSettings()
    plugins: PluginsSettings = PluginsSettings()
    estimator: EstimatorSettings = EstimatorSettings()
    bus: BusSettings = BusSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()

    @model_validator(mode="after")
    def _secure_in_production(self) -> Self:
        if not self.jwt.algorithm.startswith("HS") and self.jwt.private_key_file is None:
            raise ValueError(f"VIGIL_JWT__ALGORITHM={self.jwt.algorithm} needs VIGIL_JWT__PRIVATE_KEY_FILE")
        if self.env is Env.PRODUCTION and self.jwt.algorithm.startswith("HS"):
            key = self.jwt.key.get_secret_value() if self.jwt.key else ""
            problem = weak_key(key) if len(key) >= 32 else None  # says the rule, never the key
            if key.lower() in INSECURE_KEYS or len(key) < 32 or problem:
                raise ValueError(
                    "production mode needs VIGIL_JWT__KEY set to a random secret of at least 32 characters"
                    f"{f' ({problem})' if problem else ''} (or set VIGIL_ENV=development)"
                )
        results_key = self.jwt.results_key.get_secret_value() if self.jwt.results_key else None
        if self.env is Env.PRODUCTION and results_key is not None and (problem := weak_key(results_key)):
            raise ValueError(f"VIGIL_JWT__RESULTS_KEY is too weak for production ({problem})")
        return self


def load_settings() -> Settings:
    """Build the process's settings from the environment; unknown ``VIGIL_*`` keys are errors."""
    known = {name.upper() for name in Settings.model_fields}
    unknown = sorted(
        key for key in os.environ
        if key.upper().startswith(ENV_PREFIX)
        and key.upper()[len(ENV_PREFIX):].split("__")[0] not in known
    )
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(unknown)}")
    try:
        return Settings()
    except ValidationError as exc:
        # Never str(exc): pydantic echoes the input, and the input may be a secret.
        raise ConfigError(describe(exc, Settings)) from None
    except ValueError as exc:  # pydantic-settings' parse error (not JSON) names the group only
        raise ConfigError(describe_parse_error(exc)) from None
