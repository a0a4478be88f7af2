"""Settings of the workers behind the bus: the estimator and its evidence models, the decider, the
plugins (virtual camera, FileLogger) and the videos."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from shared.settings.base import Group


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
