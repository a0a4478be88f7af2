"""One session's frames into one video file with PyAV (blocking: the builder runs it in a thread).

The video plays in real time although frames arrive irregularly: each frame's PTS is its
``received_at`` in milliseconds after the first frame (time base 1/1000 s), and each packet
carries the gap to the next kept frame as its duration, so the container's duration is right
even when the encoder reorders frames (B-frames). The last frame lasts the median gap.

Containers: MP4 for H.264 and H.265 (what browsers and players open; ``faststart`` so playback
starts before the whole file is read; H.265 tagged ``hvc1`` for Apple players), WebM for VP9
(the container VP9 is made for; MP4 + VP9 plays in fewer places).
"""

from __future__ import annotations

import io
import statistics
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.container import OutputContainer
from av.packet import Packet
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType
from av.video.reformatter import ColorRange
from av.video.stream import VideoStream
from PIL import Image

from shared.errors import ImageError
from shared.image_header import check_pixels, declared_size
from shared.messages import ImageType

Codec = Literal["H264", "H265", "VP9"]
TIME_BASE = Fraction(1, 1000)
DEFAULT_FRAME_MS = 66  # a lone frame's duration (15 fps), when there is no gap to take a median of
# What a broken or hostile image makes Pillow or the header check raise; anything else is a real failure.
IMAGE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError, ImageError)
MAX_PIXELS = 2 * (Image.MAX_IMAGE_PIXELS or 0)  # where Pillow raises DecompressionBombError
JPEG_START = b"\xff\xd8"  # the SOI marker


@dataclass(frozen=True, slots=True)
class Profile:
    encoder: str
    container: str
    extension: str
    options: dict[str, str]
    codec_tag: str | None = None


# Presets chosen for throughput on a CPU with quality that still shows a face clearly; the
# figures are in docs/video.md (load/bench_video.py).
PROFILES: dict[Codec, Profile] = {
    "H264": Profile("libx264", "mp4", "mp4", {"preset": "veryfast", "crf": "23"}),
    "H265": Profile(
        # ultrafast: 40 % less CPU than veryfast for 1.4 dB of PSNR (docs/video.md); this
        # encoder is a third of a frame's cost on a 2-core machine.
        "libx265", "mp4", "mp4", {"preset": "ultrafast", "crf": "28", "x265-params": "log-level=error"}, "hvc1",
    ),
    "VP9": Profile(
        "libvpx-vp9", "webm", "webm",
        {"deadline": "realtime", "cpu-used": "6", "row-mt": "1", "crf": "34", "b": "0"},
    ),
}


@dataclass(frozen=True, slots=True)
class SourceFrame:
    frame_no: int
    received_at: float
    image: bytes


@dataclass(frozen=True, slots=True)
class EncodeResult:
    frame_count: int
    skipped_frames: int
    duration_s: float
    width: int
    height: int
    first_at: float = 0.0  # received_at of the first and last frames in the video
    last_at: float = 0.0


def encode_video(frames: Sequence[SourceFrame], path: Path, codec: Codec) -> EncodeResult:
    """Encode ``frames`` (in order) into ``path``; undecodable images are skipped and counted.

    Nothing is written when no frame decodes (``frame_count`` 0).
    """
    writer: VideoWriter | None = None
    skipped = 0
    decoder = FrameDecoder()
    try:
        for frame in frames:
            try:
                picture = decoder.decode(frame.image)
            except IMAGE_ERRORS:
                skipped += 1
                continue
            if writer is None:
                writer = VideoWriter(path, PROFILES[codec], *even_size((picture.width, picture.height)),
                                     frame.received_at)
            writer.add(picture, frame.received_at)
        if writer is None:
            return EncodeResult(0, skipped, 0.0, 0, 0)
        duration_ms = writer.finish()
    finally:
        if writer is not None:
            writer.close()
    return EncodeResult(
        writer.count, skipped, duration_ms / 1000, writer.width, writer.height, writer.start, writer.last_at,
    )


class FrameDecoder:
    """A frame's image as a video frame. JPEG (what the page sends) is decoded by FFmpeg straight to
    YCbCr, which the encoder wants: 0.65 ms a 640x480 frame against 1.26 ms through Pillow's RGB and
    back (docs/video.md). ``explode`` makes a truncated or damaged JPEG an error; such a JPEG then
    goes to Pillow, as every frame did before, which reads it or raises. Anything else (PNG) goes
    through Pillow."""

    def __init__(self) -> None:
        context = av.CodecContext.create("mjpeg", "r")
        if not isinstance(context, VideoCodecContext):
            raise TypeError("FFmpeg's mjpeg is not a video decoder")
        self.jpeg = context
        self.jpeg.options = {"err_detect": "explode"}

    def decode(self, data: bytes) -> av.VideoFrame:
        if data[:2] == JPEG_START:
            # A bomb (a small file announcing a huge size) is refused before FFmpeg allocates,
            # at the size Pillow refuses (the ingress refuses far smaller ones already).
            check_pixels(*declared_size(data, ImageType.JPEG), MAX_PIXELS)
            try:
                pictures = self.jpeg.decode(av.Packet(data))
            except av.FFmpegError:
                pictures = []
            if len(pictures) == 1:
                return pictures[0]
        return av.VideoFrame.from_ndarray(np.asarray(load_image(data)), format="rgb24")


def load_image(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")  # convert() decodes fully: a truncated file raises here


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    # yuv420p halves the chroma planes: both sides must be even.
    width, height = size
    return max(2, width - width % 2), max(2, height - height % 2)


class VideoWriter:
    def __init__(self, path: Path, profile: Profile, width: int, height: int, start: float) -> None:
        self.width, self.height, self.start = width, height, start
        self.count, self.last_at = 0, start
        self.container: OutputContainer = av.open(
            str(path), "w", format=profile.container,
            options={"movflags": "+faststart"} if profile.container == "mp4" else {},
        )
        stream = self.container.add_stream(profile.encoder, options=dict(profile.options))
        if not isinstance(stream, VideoStream):
            raise TypeError(f"{profile.encoder} is not a video encoder")
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = TIME_BASE
        stream.codec_context.time_base = TIME_BASE
        if profile.codec_tag:
            stream.codec_context.codec_tag = profile.codec_tag
        self.stream = stream
        self.pts: list[int] = []  # PTS of every frame handed to the encoder, increasing
        self.waiting: deque[Packet] = deque()  # packets whose duration is not known yet

    def add(self, picture: av.VideoFrame, received_at: float) -> None:
        # A frame of another size than the video's (odd sides, or a resumed session's new camera)
        # is scaled to it by swscale, with the conversion to the encoder's pixel format.
        frame = picture.reformat(width=self.width, height=self.height, format="yuv420p",
                                 dst_color_range=ColorRange.MPEG)
        # A decoded JPEG says it is a full-range intra picture: the first would mislabel the
        # converted frame, the second would make the encoder code every frame as a key frame.
        frame.color_range, frame.pict_type = ColorRange.MPEG, PictureType.NONE
        pts = round((received_at - self.start) * 1000)
        # Encoders need strictly increasing PTS; two frames in the same millisecond still count.
        frame.pts = max(pts, self.pts[-1] + 1) if self.pts else max(pts, 0)
        frame.time_base = TIME_BASE
        self.pts.append(frame.pts)
        self.count += 1
        self.last_at = received_at
        self._mux(self.stream.encode(frame), final=False)

    def finish(self) -> int:
        """Flush the encoder; the video's duration in ms."""
        self._mux(self.stream.encode(None), final=True)
        return self.pts[-1] + self._last_duration()

    def close(self) -> None:
        self.container.close()

    def _last_duration(self) -> int:
        gaps = [b - a for a, b in zip(self.pts, self.pts[1:], strict=False)]
        return max(1, round(statistics.median(gaps))) if gaps else DEFAULT_FRAME_MS

    def _mux(self, packets: Iterable[Packet], *, final: bool) -> None:
        self.waiting.extend(packets)
        # A packet's duration is the gap to the next frame, known once a later frame was added;
        # packets stay in encoder order, so one that must wait holds back those after it.
        while self.waiting:
            packet = self.waiting[0]
            if final and len(self.waiting) == 1:
                # Muxers end the file at the last packet in decode order (a B-frame maybe, not the
                # last frame shown): stretch it to when the last frame has been shown.
                packet.duration = self.pts[-1] + self._last_duration() - (packet.pts or 0)
            elif packet.pts is not None:
                index = bisect_right(self.pts, packet.pts)
                if index < len(self.pts):
                    packet.duration = self.pts[index] - packet.pts
                elif final:
                    packet.duration = self._last_duration()
                else:
                    return
            self.container.mux(self.waiting.popleft())
