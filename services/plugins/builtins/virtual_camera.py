"""VirtualCameraChecker: evidence that frames come from a virtual camera rather than a device.

A browser cannot prove a camera is physical, so this gathers evidence and reports it:

* the camera label names a known virtual camera (OBS, ManyCam, SplitCam, Snap Camera, XSplit,
  e2eSoft VCam, ...; the list below is maintained here);
* implausible capabilities in the page's ``camera-settings`` JSON (a frame rate above 120, or an
  exact 0 / missing deviceId);
* too-perfect frame timing: the page's capture times with almost no jitter over 8+ frames (real
  cameras and browsers jitter by milliseconds);
* frames identical byte for byte (a looped still);
* JPEG traits of an encoder other than the page's canvas (jpeg_traits.py): a PNG frame, tables
  that are not libjpeg's at the page's quality, 4:2:2 or grey chroma, EXIF / comments / progressive
  or other segments a canvas never writes. Not judged for Safari and iOS (Apple's encoder).

Each detection is logged and reported in ``details``; whether it fails the frame is the setting
``virtual_camera_checker.fail_on_detection`` (off by default: evidence, not proof).
"""

from __future__ import annotations

import itertools
import json
import logging
import statistics

from pydantic import BaseModel

from services.plugins.builtins import jpeg_traits
from shared.api import EstimationMessage, FrameCheck, PluginVerdict, SessionMemory, Settings, Verdict
from shared.messages import ImageType
from shared.plugins import VIRTUAL_CAMERA_CHECKER

log = logging.getLogger(__name__)

KNOWN_VIRTUAL_CAMERAS = (
    "obs virtual camera", "obs-camera", "obs cam", "manycam", "splitcam", "snap camera", "xsplit", "vcam",
    "e2esoft", "droidcam", "epoccam", "iriun", "camtwist", "youcam", "webcamoid", "virtual camera",
    "fake", "v4l2loopback", "dummy video device", "nvidia broadcast", "mmhmm", "chromacam", "camo",
)
TIMING_WINDOW = 8
MIN_JITTER_MS = 0.3


class CameraMemory(BaseModel):
    frame_times: list[float] = []
    hashes: list[str] = []
    reported: list[str] = []


class VirtualCameraChecker:
    name = VIRTUAL_CAMERA_CHECKER

    def __init__(self, settings: Settings) -> None:
        self.fail_on_detection = settings.virtual_camera_checker.fail_on_detection
        self.page_jpeg_quality = settings.virtual_camera_checker.page_jpeg_quality

    async def evaluate(self, estimation: EstimationMessage, memory: SessionMemory) -> Verdict:
        state = await memory.load(CameraMemory) or CameraMemory()
        client = estimation.client
        findings: dict[str, float] = {}
        if client is not None and client.camera_label:
            label = client.camera_label.lower()
            if any(name in label for name in KNOWN_VIRTUAL_CAMERAS):
                findings["virtual_label"] = 1.0
        if client is not None and client.camera_settings and _implausible(client.camera_settings):
            findings["implausible_settings"] = 1.0
        if client is not None and client.frame_time_ms is not None:
            state.frame_times = [*state.frame_times, client.frame_time_ms][-TIMING_WINDOW:]
            if len(state.frame_times) == TIMING_WINDOW and _too_regular(state.frame_times):
                findings["perfect_timing"] = 1.0
        if estimation.image_sha256 and estimation.image_sha256 in state.hashes:
            findings["repeated_frame"] = 1.0
        state.hashes = [*state.hashes, estimation.image_sha256][-50:]
        findings |= self._encoder_traits(estimation)
        new = sorted(set(findings) - set(state.reported))
        announce = None
        if new:
            camera = client.camera_label if client else None
            log.warning("session %s: virtual camera evidence %s (label %r)", estimation.session_id, new, camera)
            state.reported = [*state.reported, *new]
            announce = f"virtual camera evidence: {', '.join(new)} (camera label {camera!r})"
        await memory.save(state)
        if findings and self.fail_on_detection:
            return Verdict(PluginVerdict.FAIL, codes=(FrameCheck.VIRTUAL_CAMERA,), details=findings,
                           announce=announce)
        return Verdict(PluginVerdict.PASS, details=findings, announce=announce)


    def _encoder_traits(self, estimation: EstimationMessage) -> dict[str, float]:
        if estimation.image is None:  # carried only with a main face, the frames this plugin sees
            return {}
        if estimation.content_type is ImageType.PNG:
            return {"png_frame": 1.0}  # the page sends canvas JPEGs only
        if jpeg_traits.webkit_only(estimation.client.user_agent if estimation.client else None):
            return {}
        structure = jpeg_traits.parse(estimation.image)
        if structure is None:  # decoded by the estimator, so only an unusual header layout: no opinion
            log.info("session %s frame %d: JPEG header not parsed", estimation.session_id, estimation.frame_no)
            return {}
        return jpeg_traits.findings(structure, self.page_jpeg_quality)


def _implausible(settings_json: str) -> bool:
    try:
        described = json.loads(settings_json)
    except ValueError:
        return True  # a page that sends garbage here is not a stock browser
    if not isinstance(described, dict):
        return True
    rate = described.get("frameRate")
    return isinstance(rate, int | float) and rate > 120


def _too_regular(times: list[float]) -> bool:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return statistics.pstdev(gaps) < MIN_JITTER_MS
