"""Playing a person in front of the camera, from real media: the active-liveness tests and ``vigil eval``.

* ``CooperativePerson``: answers each STATS reply's prompt (90 blink, 91 yaw left, 92 yaw right,
  93 pitch up, 94 pitch down; 97 = the action timed out and a new one follows) by sending the
  frames of the segment of a real genuine video where that person performs the action, then
  frontal frames. The segments are annotated in ``tests/annotations/active_liveness_segments.json``
  (frame ranges checked against the estimator's own measurements). With ``answers`` it can also
  do the wrong action (turn right when asked to turn left) or none.
* ``NaiveReplay``: the same video played in order, whatever the prompts say.
* ``TiltedPhoto``: a frontal still of a real video warped by homographies that simulate tilting a
  flat print in 3-D in front of the camera. SYNTHETIC: the tilt is computed here; only the
  photo is real.

Frames are sent at native size as JPEG q90 (the estimator's measurements in the annotation file
were taken on exactly these bytes), one at a time, each after the previous reply (LPProto), so
the ingress stamps them with the wall clock as a page's frames would be.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio
import av
import numpy as np
from PIL import Image
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient, Reply
from infra.media import to_jpeg
from shared.errors import FrameCheck
from shared.evidence import EvidenceKind
from shared.lpproto import Command
from shared.settings import Interaction

ROOT = Path(__file__).resolve().parents[2]
ANNOTATIONS = ROOT / "tests" / "annotations" / "active_liveness_segments.json"

PROMPTS: dict[int, Interaction] = {
    FrameCheck.ACTION_BLINK: Interaction.BLINK,
    FrameCheck.ACTION_YAW_LEFT: Interaction.YAW_LEFT,
    FrameCheck.ACTION_YAW_RIGHT: Interaction.YAW_RIGHT,
    FrameCheck.ACTION_PITCH_UP: Interaction.PITCH_UP,
    FrameCheck.ACTION_PITCH_DOWN: Interaction.PITCH_DOWN,
    FrameCheck.ACTION_SMILE: Interaction.SMILE,
    FrameCheck.ACTION_MOUTH_OPEN: Interaction.MOUTH_OPEN,
}
PEAK_FRAMES = 3  # frames sent from an action's peak (a person holds the pose briefly)
SAMPLE_S = 0.1  # a page sends about ten frames a second: ramps are sampled at this video time step


# --- the annotation file -------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """An action in a video: neutral at ``start``, at its peak over ``peak``, neutral at ``end``."""

    start: int
    peak: tuple[int, int]
    end: int
    performable: bool  # False: the estimator does not count it (too shallow, no parallax)

    def frames(self, step: int, peak_frames: int = PEAK_FRAMES) -> list[int]:
        """The frames a person doing this action sends: the ramps every ``step`` frames, a few peak frames."""
        first, last = self.peak
        ramp_in = list(range(self.start, first, step))
        count = min(peak_frames, last - first + 1)
        peak = sorted({round(first + k * (last - first) / max(count - 1, 1)) for k in range(count)})
        ramp_out = [*range(last + step, self.end, step), self.end]
        return [*ramp_in, *peak, *ramp_out]


@dataclass(frozen=True)
class Clip:
    """One annotated video of one person."""

    path: str  # relative to the shared data folder
    sha256: str
    fps: float
    frame_count: int
    frontal: tuple[int, int]
    reference_frame: int  # the most frontal frontal frame (the parallax reference of the measurements)
    actions: Mapping[Interaction, Segment]

    @property
    def step(self) -> int:
        return max(1, round(self.fps * SAMPLE_S))

    def frontal_frames(self) -> list[int]:
        first, last = self.frontal
        return list(range(first, last + 1, self.step))

    def performable(self) -> tuple[Interaction, ...]:
        return tuple(action for action, segment in self.actions.items() if segment.performable)

    def needed_frames(self) -> set[int]:
        needed = set(self.frontal_frames()) | {self.reference_frame}
        for segment in self.actions.values():
            needed.update(segment.frames(self.step))
        return needed


def load_annotations(path: Path = ANNOTATIONS) -> dict[str, Clip]:
    document: dict[str, Any] = json.loads(path.read_text())
    clips = {}
    for item in document["media"]:
        segments = dict(item["segments"])
        frontal = segments.pop("frontal")
        actions = {
            Interaction(name): Segment(start=s["start"], peak=(s["peak"][0], s["peak"][1]), end=s["end"],
                                       performable=s["performable"])
            for name, s in segments.items()
        }
        clips[item["path"]] = Clip(path=item["path"], sha256=item["sha256"], fps=float(item["fps"]),
                                   frame_count=item["frames"], frontal=(frontal["start"], frontal["end"]),
                                   reference_frame=item["reference_frame"], actions=actions)
    return clips


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- frames --------------------------------------------------------------------------------------


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    return to_jpeg(image, quality=quality)


def letterbox(image: Image.Image, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """``image`` scaled to fit ``size`` and centred on black (what a page drawing a portrait
    camera into a landscape canvas sends)."""
    scale = min(size[0] / image.width, size[1] / image.height)
    scaled = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR)
    canvas = Image.new("RGB", size)
    canvas.paste(scaled, ((size[0] - scaled.width) // 2, (size[1] - scaled.height) // 2))
    return canvas


def decode_images(path: Path, wanted: Iterable[int]) -> dict[int, Image.Image]:
    """The frames numbered ``wanted`` (from 0, in decoding order) of the video at ``path``."""
    remaining = set(wanted)
    images: dict[int, Image.Image] = {}
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number in remaining:
                images[number] = Image.fromarray(frame.to_ndarray(format="rgb24"))
                remaining.discard(number)
                if not remaining:
                    break
    if remaining:
        raise ValueError(f"{path.name}: no frames {sorted(remaining)[:5]}")
    return images


def decode_frames(path: Path, wanted: Iterable[int], *, boxed: bool = False, quality: int = 90) -> dict[int, bytes]:
    """The frames numbered ``wanted`` as JPEG bytes, at native size or letterboxed to 640x480."""
    return {number: jpeg(letterbox(image) if boxed else image, quality)
            for number, image in decode_images(path, wanted).items()}


# --- reading a reply -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Challenge:
    """What a reply says about the active-liveness challenge."""

    prompt: Interaction | None
    done: int | None
    total: int | None
    timed_out: bool


def challenge(reply: Reply | None) -> Challenge:
    if reply is None or reply.command is not Command.STATS:
        return Challenge(None, None, None, False)
    body = reply.stats()
    codes = [int(code) for code in body.get("errors", [])]
    prompt = next((PROMPTS[code] for code in codes if code in PROMPTS), None)
    progress = body.get("estimations", {}).get("activeLiveness") or {}
    return Challenge(prompt, progress.get("done"), progress.get("total"), FrameCheck.ACTION_TIMED_OUT in codes)


# --- performers ----------------------------------------------------------------------------------


class Performer(Protocol):
    def next_frame(self, reply: Reply | None) -> tuple[str, bytes] | None:
        """The next frame to send (a label for the transcript, the JPEG bytes) given the last
        reply, or None when there is nothing more to send."""
        ...


def _ping_pong(frames: list[int]) -> Iterator[int]:
    """Frontal frames forth and back, so a person sitting still never jumps."""
    order = frames + frames[-2:0:-1] if len(frames) > 2 else frames
    while True:
        yield from order


class CooperativePerson:
    """Answers each prompt with the annotated segment of that action, then sits still (frontal).

    ``answers`` maps a prompted action to the action actually performed (None: do nothing); the
    default is to do what is asked."""

    def __init__(self, clip: Clip, frames: Mapping[int, bytes],
                 answers: Mapping[Interaction, Interaction | None] | None = None) -> None:
        self.clip, self.frames = clip, frames
        self.answers = answers
        self.queue: deque[int] = deque()
        self.current: tuple[Interaction, int | None] | None = None
        self.frontal = _ping_pong(clip.frontal_frames())
        self.performed: list[Interaction] = []

    def next_frame(self, reply: Reply | None) -> tuple[str, bytes]:
        state = challenge(reply)
        key = (state.prompt, state.done) if state.prompt is not None else None
        if key != self.current:
            # A new action is asked (first prompt, the last one done, or it timed out).
            self.current = key
            self.queue.clear()
            if state.prompt is not None:
                action = self.answers.get(state.prompt) if self.answers is not None else state.prompt
                segment = self.clip.actions.get(action) if action is not None else None
                if action is not None and segment is not None:  # else: sits still (cannot do it)
                    self.performed.append(action)
                    self.queue.extend(segment.frames(self.clip.step))
        number = self.queue.popleft() if self.queue else next(self.frontal)
        return f"{self.clip.path}#{number}", self.frames[number]


class NaiveReplay:
    """The video played at its own speed from its first frame, whatever the prompts say: each
    frame sent is the one the video shows at that moment (a screen or virtual camera in front of
    the page). Stops when the video is over or after ``duration_s`` of it."""

    def __init__(self, clip: Clip, frames: Mapping[int, bytes], *, duration_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clip, self.frames, self.clock = clip, frames, clock
        last = clip.frame_count - 1 if duration_s is None else min(clip.frame_count - 1,
                                                                     int(duration_s * clip.fps))
        self.last = last
        self.started: float | None = None
        self.sent: list[int] = []

    def next_frame(self, reply: Reply | None) -> tuple[str, bytes] | None:
        now = self.clock()
        if self.started is None:
            self.started = now
        number = int((now - self.started) * self.clip.fps)
        if number > self.last:
            return None
        self.sent.append(number)
        return f"{self.clip.path}#{number}", self.frames[number]


def tilt_homography(width: int, height: int, yaw_deg: float, pitch_deg: float,
                    focal: float) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The image-to-image homography of a flat picture (filling the frame, facing the camera at
    distance ``focal`` px) turned by ``yaw_deg`` about its vertical centre line and ``pitch_deg``
    about its horizontal one, seen by a pinhole camera of focal length ``focal`` px.

    A plane point X (camera coordinates, z = focal) moves to R (X - C) + C with C its centre, so
    its image x = K X / z moves to K (R d K^-1 + (I - R) C e3^T) x: one homography for the whole
    picture (which is why the estimator's parallax evidence can tell it from a head)."""
    camera = np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    turn = np.array([[math.cos(a), 0.0, math.sin(a)], [0.0, 1.0, 0.0], [-math.sin(a), 0.0, math.cos(a)]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(b), -math.sin(b)], [0.0, math.sin(b), math.cos(b)]])
    rotation = turn @ tilt
    centre = np.array([0.0, 0.0, focal])
    plane = focal * rotation @ np.linalg.inv(camera) + np.outer(centre - rotation @ centre, [0.0, 0.0, 1.0])
    homography = camera @ plane
    return np.asarray(homography / homography[2, 2])


def tilted(photo: Image.Image, yaw_deg: float, pitch_deg: float, focal: float) -> Image.Image:
    """``photo`` as the camera sees it when the print is tilted (grey where the print is not)."""
    if yaw_deg == 0 and pitch_deg == 0:
        return photo.copy()
    inverse = np.linalg.inv(tilt_homography(photo.width, photo.height, yaw_deg, pitch_deg, focal))
    inverse /= inverse[2, 2]
    coefficients = tuple(float(v) for v in inverse.ravel()[:8])
    return photo.transform(photo.size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC,
                           fillcolor=(128, 128, 128))


# Which way to tilt the print so the estimator's yaw / pitch move the prompted way (pose.py signs;
# found by measuring: the print's side nearer the camera grows, as a turned face's would).
TILT_DIRECTIONS: dict[Interaction, tuple[int, int]] = {
    Interaction.YAW_LEFT: (-1, 0), Interaction.YAW_RIGHT: (1, 0),
    Interaction.PITCH_UP: (0, -1), Interaction.PITCH_DOWN: (0, 1),
}


def tilt_sequence(action: Interaction, max_deg: float, step_deg: float = 10.0) -> list[tuple[float, float]]:
    """(yaw, pitch) tilts of the print for one try at ``action``: out to ``max_deg`` and back."""
    sign_yaw, sign_pitch = TILT_DIRECTIONS[action]
    count = math.ceil(max_deg / step_deg)
    out = [min(k * step_deg, max_deg) for k in range(count + 1)]
    angles = [*out, *reversed(out[:-1])]
    return [(float(sign_yaw * a), float(sign_pitch * a)) for a in angles]


@dataclass
class TiltedPhoto:
    """A flat print of a real frontal still, tilted in 3-D before the camera to fake the prompted
    turn or tilt (SYNTHETIC tilt: the warps are computed by ``tilted``), again and again until the
    prompt changes. Prompts it cannot fake (blink) get the print held still."""

    photo: Image.Image
    focal: float  # the camera's focal length in px
    max_deg: float  # the steepest tilt tried
    queue: deque[tuple[float, float]] = field(default_factory=deque)
    current: tuple[Interaction, int | None] | None = None
    cache: dict[tuple[float, float], bytes] = field(default_factory=dict)

    def view(self, angles: tuple[float, float]) -> bytes:
        if angles not in self.cache:
            self.cache[angles] = jpeg(tilted(self.photo, angles[0], angles[1], self.focal))
        return self.cache[angles]

    def next_frame(self, reply: Reply | None) -> tuple[str, bytes] | None:
        state = challenge(reply)
        key = (state.prompt, state.done) if state.prompt is not None else None
        if key != self.current:
            self.current = key
            self.queue.clear()
        if not self.queue and state.prompt in TILT_DIRECTIONS:
            self.queue.extend(tilt_sequence(state.prompt, self.max_deg))
        angles = self.queue.popleft() if self.queue else (0.0, 0.0)
        return f"photo tilted yaw={angles[0]:g} pitch={angles[1]:g}", self.view(angles)


# --- a session -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One frame of a session and its answer."""

    label: str
    command: Command
    codes: tuple[int, ...]
    prompt: Interaction | None
    done: int | None
    total: int | None
    yaw: float | None
    pitch: float | None
    elapsed_s: float
    liveness: float | None = None  # the passive liveness score (development mode replies only)


@dataclass
class Transcript:
    steps: list[Step] = field(default_factory=list)
    token: str | None = None
    closed: int | None = None  # the WebSocket close code, when the server ended the session first

    @property
    def succeeded(self) -> bool:
        return bool(self.steps) and self.steps[-1].command is Command.SUCCESS

    def codes(self) -> set[int]:
        return {code for step in self.steps for code in step.codes}

    def prompts(self) -> list[Interaction]:
        """The actions prompted, in order, each once per time it was asked."""
        asked: list[Interaction] = []
        last: tuple[Interaction, int | None] | None = None
        for step in self.steps:
            key = (step.prompt, step.done) if step.prompt is not None else None
            if key is not None and key != last:
                asked.append(key[0])
            last = key
        return asked

    def summary(self) -> str:
        return (f"{len(self.steps)} frames, {self.steps[-1].elapsed_s:.1f} s, prompts "
                f"{[p.value for p in self.prompts()]}, codes {sorted(self.codes())}, "
                f"last {self.steps[-1].command.value}" if self.steps else "no frames")


def _step(label: str, reply: Reply, started: float) -> Step:
    state = challenge(reply)
    codes: tuple[int, ...] = ()
    yaw = pitch = liveness = None
    if reply.command is Command.STATS:
        body = reply.stats()
        codes = tuple(int(code) for code in body.get("errors", []))
        estimations = body.get("estimations", {})
        pose = estimations.get("headPose") or {}
        yaw, pitch = pose.get("yaw"), pose.get("pitch")
        liveness = (estimations.get(EvidenceKind.LIVENESS.alias) or {}).get("score")
    return Step(label, reply.command, codes, state.prompt, state.done, state.total, yaw, pitch,
                time.monotonic() - started, liveness)


async def play(client: LPClient, performer: Performer, *, max_frames: int, interval_s: float = 0.1,
               until: Callable[[Transcript], bool] | None = None) -> Transcript:
    """Sends the performer's frames one at a time until SUCCESS, an ERROR, the server closing the
    session, the performer running out, ``until`` says so, or ``max_frames``; never faster than
    one frame every ``interval_s`` (a page's pace; a slower machine simply answers later)."""
    transcript = Transcript()
    started = time.monotonic()
    reply: Reply | None = None
    sent_at = -math.inf
    for _ in range(max_frames):
        await anyio.sleep(max(0.0, sent_at + interval_s - time.monotonic()))
        sent_at = time.monotonic()
        chosen = performer.next_frame(reply)
        if chosen is None:
            break
        label, image = chosen
        try:
            reply = await client.frame(image)
        except ConnectionClosed as closed:  # the session ended on the previous frame
            transcript.closed = closed.rcvd.code if closed.rcvd else -1
            break
        transcript.steps.append(_step(label, reply, started))
        if reply.command is Command.SUCCESS:
            transcript.token = reply.message.body
            break
        if reply.command is Command.ERROR or (until is not None and until(transcript)):
            break
    return transcript
