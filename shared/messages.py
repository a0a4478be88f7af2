"""Typed, frozen, versioned messages carried on the streams, and their msgpack codec.

Each message travels as one stream entry with a single field ``m``: a msgpack map holding the
message type tag ``t``, its schema version ``v`` and its fields. ``decode`` is the only way back
from bytes; it raises ``MessageDecodeError`` carrying the raw bytes. A change that is not
backward compatible bumps ``VERSION``; decoders refuse versions they do not know.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, TypeVar

import msgpack
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import FrameCheck, MessageDecodeError, SystemCode
from shared.light import LightPattern

ENTRY_FIELD = b"m"


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ImageType(StrEnum):
    JPEG = "image/jpeg"
    PNG = "image/png"


class Rect(Model):
    x: float
    y: float
    width: float
    height: float


class Face(Model):
    box: Rect
    # Five points: right eye, left eye, nose tip, right and left mouth corners (as YuNet orders
    # them: "right" is the subject's right, image left in a non-mirrored frame).
    keypoints: tuple[tuple[float, float], ...] = Field(min_length=5, max_length=5)
    score: float


class PixelRect(Model):
    x: int
    y: int
    width: int
    height: int


class FaceFramePosition(Model):
    face_rect: PixelRect = Field(alias="faceRect")
    frame_rect: PixelRect = Field(alias="frameRect")
    # Face border to frame border: top, right, bottom, left (as the baseline's JWT example).
    margins: tuple[int, int, int, int]


class ImageQuality(Model):
    """Quality scores of the face region in [0, 1], higher = better (services/estimator/quality.py)."""

    blur: float
    light: float
    darkness: float
    illumination: float
    specularity: float


class HeadPose(Model):
    """Degrees. yaw > 0: the person turns to their left; pitch > 0: looks up; roll > 0: head
    leans to their left shoulder (services/estimator/pose.py)."""

    yaw: float
    pitch: float
    roll: float


class EyeState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Eyes(Model):
    """Per eye (the person's own left/right): state and openness (eye aspect ratio based, 0-1)."""

    left: EyeState
    right: EyeState
    left_openness: float
    right_openness: float


class Mouth(Model):
    """Scores in [0, 1]: how open the mouth is, how much it smiles, how likely it is covered."""

    opened: float
    smile: float
    occluded: float


class Glasses(StrEnum):
    NONE = "no_glasses"
    EYEGLASSES = "eyeglasses"
    SUNGLASSES = "sunglasses"


class EvidenceScore(Model):
    """A liveness / deepfake / image-modification score in [0, 1], higher = more genuine, with
    the evidence that produced it (``source``) and each cue's own value, so nobody mistakes a
    heuristic for a validated model."""

    score: float = Field(ge=0, le=1)
    source: str
    cues: dict[str, float] = Field(default_factory=dict)


RGB = tuple[float, float, float]


class LightSample(Model):
    """The screen-light response measured on one frame (services/estimator/light.py): mean linear
    RGB in [0, 1] of skin regions chosen by the face mesh's normals, of a background band beside
    the face, and of the corneal highlights. "left"/"right" are the person's own sides (the side the
    left/right half of their screen lights), whatever the frame's mirroring."""

    face: RGB
    left: RGB
    right: RGB
    top: RGB  # forehead
    bottom: RGB  # lower cheeks and chin
    background: RGB | None = None  # None: the face fills the frame
    cornea: RGB | None = None  # None: eyes too small to read a highlight


class FaceAnalysis(Model):
    """Everything the estimator measured on the main face; fields are None where not computed."""

    image_quality: ImageQuality | None = None
    head_pose: HeadPose | None = None
    eyes: Eyes | None = None
    mouth: Mouth | None = None
    eyeglasses: Glasses | None = None
    # Overall quality in [0, 1] (services/estimator/ags.py documents the rule).
    ags: float | None = None
    # 128-D SFace embedding, L2-normalised; computed only when a consumer needs it.
    descriptor: tuple[float, ...] | None = None
    # 3-D parallax evidence against the session's most frontal frame so far: the median
    # residual of the landmarks after the best homography, in inter-ocular distances (a flat
    # picture moves by one homography; a real head does not), and the pose change it spans.
    parallax: float | None = None
    pose_change_deg: float | None = None
    liveness: EvidenceScore | None = None
    deepfake: EvidenceScore | None = None
    image_modification: EvidenceScore | None = None
    # Only while the frame's live settings enable the light challenge.
    light: LightSample | None = None


class ImageQualityReport(Model):
    """Quality scores with the flags their thresholds give, as the baseline's JWT shows them."""

    blur: float
    is_blurred: bool = Field(alias="isBlurred")
    light: float
    is_highlighted: bool = Field(alias="isHighlighted")
    darkness: float
    is_dark: bool = Field(alias="isDark")
    illumination: float
    is_illuminated: bool = Field(alias="isIlluminated")
    specularity: float
    is_specular: bool = Field(alias="isSpecular")


class EyesReport(Model):
    left: EyeState
    right: EyeState
    state: EyeState


class MouthReport(Model):
    opened: float
    smile: float
    occluded: float
    state: str  # "closed", "opened", "smile" or "occluded"


class ScoreReport(Model):
    score: float
    state: str | None = None  # deepfake: "real" or "fake"
    source: str | None = None  # the evidence that produced the score


class ChallengeProgress(Model):
    done: int
    total: int


class LightInstruction(Model):
    """The light step the page must paint now (docs/protocol.md, ``lightChallenge``)."""

    step: int = Field(ge=0)  # 0: the white baseline; 1..total: the challenge
    total: int = Field(ge=1)
    pattern: LightPattern
    colors: tuple[str, ...] = Field(min_length=1, max_length=2)
    duration_ms: int = Field(alias="durationMs")
    declinable: bool = False


class Defence(StrEnum):
    """The active defences a session passed, as the JWT's ``defences`` claim lists them."""

    ACTIONS = "actions"  # random head / eye / mouth actions (ActiveLiveness)
    LIGHT = "light"  # the screen-light reflection (LightChallenge)


class Estimations(Model):
    """What a STATS reply or the JWT reports of a frame (field names as the baseline's JWT)."""

    face_count: int = Field(alias="faceCount")
    face_frame_position: FaceFramePosition | None = Field(default=None, alias="faceFramePosition")
    detection_score: float | None = Field(default=None, alias="detectionScore")
    ags: float | None = None
    image_quality: ImageQualityReport | None = Field(default=None, alias="imageQuality")
    head_pose: HeadPose | None = Field(default=None, alias="headPose")
    eyes: EyesReport | None = None
    mouth: MouthReport | None = None
    eyeglasses: Glasses | None = None
    liveness: ScoreReport | None = None
    deepfake: ScoreReport | None = None
    image_modification: ScoreReport | None = Field(default=None, alias="imageModification")
    # Active liveness progress (k of n), shown in every mode so the page can display it.
    active_liveness: ChallengeProgress | None = Field(default=None, alias="activeLiveness")
    # While the light challenge runs: what the page paints now (shown in every mode).
    light_challenge: LightInstruction | None = Field(default=None, alias="lightChallenge")


class Message(Model):
    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1


class LightSupport(StrEnum):
    SHOWN = "1"  # the page paints light steps
    DECLINED = "declined"  # the person declined the light check (the no-light path)


class ClientInfo(Model):
    """What the page says about its camera (CONNECT headers) and each frame (FRAME headers).
    Untrusted by nature: evidence for the VirtualCameraChecker, never proof."""

    camera_label: str | None = None
    camera_settings: str | None = None  # the JSON of getSettings() / getCapabilities() as sent
    frame_time_ms: float | None = None  # the page's capture time of this frame (performance.now())
    user_agent: str | None = None
    # Selfie mode pages may send mirrored frames: the estimator then flips yaw and roll back.
    mirrored: bool = False
    # The light challenge (docs/protocol.md): the page's ``light`` header (LightSupport), the step on
    # screen when this frame was captured and when the page painted it (performance.now() ms).
    light: LightSupport | None = None
    light_step: int | None = None
    light_painted_ms: float | None = None
    # The person asked for more time (CONNECT ``time-scale``, 1 to MAX_TIME_SCALE; WCAG 2.2.1): the
    # ActiveLiveness plugin multiplies each action's timeout by it, up to the operator's cap.
    time_scale: float = 1.0


class FrameMessage(Message):
    TYPE = "frame"

    session_id: str
    request_id: str
    frame_no: int = Field(ge=1)
    received_at: float
    content_type: ImageType
    image: bytes
    width: int
    height: int
    client: ClientInfo | None = None
    # The ingress's VIGIL_CONFIG_TAG: every service decides this frame with that tag's live
    # settings (shared/live_config.py). None: the deciding process's own tag.
    config_tag: str | None = None


class EstimationMessage(Message):
    TYPE = "estimation"

    session_id: str
    request_id: str
    frame_no: int
    frame_width: int
    frame_height: int
    faces: tuple[Face, ...] = ()
    # Index into ``faces`` of the face the checks are about (shared/faces.py), None if none.
    main_face: int | None = None
    analysis: FaceAnalysis | None = None
    received_at: float = 0.0
    client: ClientInfo | None = None
    # SHA-256 of the frame's bytes: identical frames are a sign of a synthetic source.
    image_sha256: str = ""
    # The frame as received, carried only when it has a main face: the decider's best-shot candidate.
    image: bytes | None = None
    content_type: ImageType | None = None
    # Set when the frame could not be analysed (e.g. an image that does not decode).
    error: SystemCode | None = None
    # Milliseconds per stage (decode, detect, quality, ...), for benchmarks and logs.
    timings: dict[str, float] = Field(default_factory=dict)
    # Copied from the frame: the live settings tag the decider and plugins apply.
    config_tag: str | None = None


class PluginEvent(Message):
    """Something a plugin wants operators to know (e.g. virtual-camera evidence), apart from its
    verdict: published on ``Keys.plugin_events`` for operators (the admin's Plugin events page,
    ``vigil plugin-events``)."""

    TYPE = "plugin_event"

    session_id: str
    frame_no: int
    plugin: str
    at: float
    details: dict[str, float] = Field(default_factory=dict)
    note: str = ""


class SessionEnd(StrEnum):
    """Why the decider ended a session (docs/protocol.md maps each to a WebSocket close code)."""

    SUCCESS = "success"
    MAX_ATTEMPTS = "max_attempts"
    MAX_LIVENESS_ATTEMPTS = "max_liveness_attempts"
    FACE_CHANGED = "face_changed"
    MARKED_FAKE = "marked_fake"
    PLUGIN = "plugin"


class ReplyKind(StrEnum):
    STATS = "STATS"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"


class ReplyMessage(Message):
    TYPE = "reply"

    session_id: str
    request_id: str
    frame_no: int
    kind: ReplyKind
    errors: tuple[FrameCheck, ...] = ()
    estimations: Estimations | None = None
    jwt: str | None = None
    jwt_id: str | None = None
    error: SystemCode | None = None
    # Set when the session is over after this reply; the ingress closes the socket with its code.
    end: SessionEnd | None = None


class PluginVerdict(StrEnum):
    PASS = "pass"  # nothing against this frame
    PENDING = "pending"  # not done yet (an active challenge in progress): no success on this frame
    FAIL = "fail"  # this frame fails; ``codes`` say why
    END = "end"  # the session must end (e.g. the face changed); ``mark_fake`` if it was an attack


class PluginResult(Message):
    """A stage-3 plugin's verdict on one frame; the decider joins these before deciding."""

    TYPE = "plugin_result"

    session_id: str
    request_id: str
    frame_no: int
    plugin: str
    verdict: PluginVerdict
    codes: tuple[FrameCheck, ...] = ()
    mark_fake: bool = False
    # Active challenges: (done, total), for the page's progress display.
    progress: tuple[int, int] | None = None
    details: dict[str, float] = Field(default_factory=dict)
    # The light step the page must paint now (LightChallenge), carried to the reply by the decider.
    light: LightInstruction | None = None
    # Set on PASS when the plugin is an active defence that the session passed (the JWT lists them).
    defence: Defence | None = None


class LoggedPart(StrEnum):
    FRAME = "frame"  # the frame's image file
    ANSWER = "answer"  # the answer's line in answers.jsonl


class FileLogProgress(Message):
    """The FileLogger wrote one part of a session's log (stage 5): the decider waits for these
    before deciding the session's next frame or publishing its final answer (docs/plugins.md)."""

    TYPE = "file_log_progress"

    session_id: str
    frame_no: int
    part: LoggedPart
    at: float


class SessionOutcome(StrEnum):
    SUCCESS = "success"
    FAILED = "failed"  # the decider ended it (attempts exhausted, fake, face changed)
    DISCONNECTED = "disconnected"  # the connection dropped; the session may still resume


class SessionEvent(Message):
    TYPE = "session_event"

    session_id: str
    outcome: SessionOutcome
    at: float
    frames: int
    jwt_id: str | None = None


class VideoMessage(Message):
    TYPE = "video"

    session_id: str
    path: str
    frame_count: int
    codec: str
    duration_s: float
    outcome: SessionOutcome | None = None
    jwt_id: str | None = None
    skipped_frames: int = 0


class ConfigChange(Message):
    """An operator changed one settings group of a tag (shared/live_config.py); services that use
    that tag reload it. The stream of these is the history of every live-settings change."""

    TYPE = "config_change"

    tag: str
    version: int
    actor: str
    at: float
    group: str
    # The tag's whole set of overrides after the change, as JSON (for the history, not for reloading).
    overrides: str = "{}"


M = TypeVar("M", bound=Message)


def encode(message: Message) -> dict[bytes, bytes]:
    """The stream entry fields for ``message``."""
    body: dict[str, Any] = {"t": message.TYPE, "v": message.VERSION, **message.model_dump(mode="python")}
    return {ENTRY_FIELD: msgpack.packb(body, use_bin_type=True)}


def decode(kind: type[M], fields: dict[bytes, bytes]) -> M:
    """Decode stream entry fields into ``kind``; ``MessageDecodeError`` on anything else."""
    raw = fields.get(ENTRY_FIELD, b"")
    try:
        body = msgpack.unpackb(raw, raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise MessageDecodeError(f"not msgpack: {exc}", raw) from exc
    if not isinstance(body, dict):
        raise MessageDecodeError("not a msgpack map", raw)
    return from_envelope(kind, body, raw)


def from_envelope(kind: type[M], body: dict[str, Any], raw: bytes) -> M:
    """``kind`` from a decoded envelope (``t``, ``v`` and the fields); ``raw``: the bytes it came from."""
    tag, version = body.pop("t", None), body.pop("v", None)
    if tag != kind.TYPE:
        raise MessageDecodeError(f"expected {kind.TYPE!r}, got type {tag!r}", raw)
    if version != kind.VERSION:
        raise MessageDecodeError(f"{kind.TYPE} version {version!r} is not {kind.VERSION}", raw)
    try:
        return kind.model_validate(body)
    except ValidationError as exc:
        raise MessageDecodeError(f"invalid {kind.TYPE}: {exc.error_count()} errors: {exc}", raw) from exc
