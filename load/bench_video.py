"""Encode speed of the video builder per codec, on the CPU, with real 640x480 frames.

Feeds the builder's own encoder (services/videobuilder/encoder.py) the way a session does:
JPEG bytes in, frames arriving irregularly around a nominal rate. Prints, per codec, the
speed in "x real time" (video seconds made per wall second, the whole file: decoding the
JPEGs, converting, encoding, flushing, muxing), the p50/p95 time one frame costs when it is
added (JPEG decode + colour conversion + encoder call; encoders buffer frames, so the flush at
the end is reported apart), and the file size.

    .venv/bin/python -m load.bench_video [--frames 150] [--fps 15] [--runs 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import av
import numpy as np
from PIL import Image

from services.videobuilder.encoder import PROFILES, Codec, FrameDecoder, VideoWriter, even_size

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("VIGIL_TEST_DATA", ROOT.parent / "shared" / "data"))
SOURCE = Path("pad_replay_tranvanluyt") / "videos__real.mp4"


@dataclass(frozen=True, slots=True)
class Run:
    wall_s: float
    video_s: float
    frame_ms: list[float]
    flush_ms: float
    size_bytes: int


def cpu_model() -> str:
    """The CPU's name (``platform.processor()`` is empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def real_frames(data: Path, count: int, size: tuple[int, int] = (640, 480)) -> list[bytes]:
    """``count`` JPEGs from a real selfie video, looping over it if it is shorter."""
    frames: list[bytes] = []
    while len(frames) < count:
        with av.open(str(data / SOURCE)) as container:
            for frame in container.decode(video=0):
                image = Image.fromarray(frame.to_ndarray(format="rgb24")).resize(size)
                buffer = io.BytesIO()
                image.save(buffer, "JPEG", quality=85)
                frames.append(buffer.getvalue())
                if len(frames) == count:
                    break
    return frames


def arrival_times(count: int, fps: float, seed: int = 1) -> list[float]:
    """Around ``fps`` with +-40 % jitter, as a browser sends them."""
    rng = random.Random(seed)
    times = [0.0]
    for _ in range(count - 1):
        times.append(times[-1] + rng.uniform(0.6, 1.4) / fps)
    return times


def encode_once(codec: Codec, jpegs: list[bytes], times: list[float], folder: Path) -> Run:
    path = folder / f"bench.{PROFILES[codec].extension}"
    frame_ms: list[float] = []
    started = time.perf_counter()
    writer: VideoWriter | None = None
    decoder = FrameDecoder()
    try:
        for data, at in zip(jpegs, times, strict=True):
            begin = time.perf_counter()
            picture = decoder.decode(data)
            if writer is None:
                writer = VideoWriter(path, PROFILES[codec], *even_size((picture.width, picture.height)), at)
            writer.add(picture, at)
            frame_ms.append((time.perf_counter() - begin) * 1000)
        assert writer is not None
        flush_start = time.perf_counter()
        video_ms = writer.finish()
    finally:
        if writer is not None:
            writer.close()
    ended = time.perf_counter()
    return Run(ended - started, video_ms / 1000, frame_ms, (ended - flush_start) * 1000, path.stat().st_size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()

    jpegs = real_frames(args.data, args.frames)
    times = arrival_times(args.frames, args.fps)
    print(f"machine: {platform.platform()}, {cpu_model()}, "
          f"os.cpu_count()={os.cpu_count()}, Python {platform.python_version()}, PyAV {av.__version__}, "
          f"NumPy {np.__version__}")
    print(f"input: {args.frames} real frames 640x480 JPEG ({statistics.mean(map(len, jpegs)) / 1024:.0f} kB "
          f"mean) from {SOURCE}, {args.fps:g} fps nominal +-40 % jitter; median of {args.runs} runs")
    print(f"{'codec':<6}{'encoder':<12}{'container':<10}{'video_s':>8}{'wall_s':>8}{'x_realtime':>11}"
          f"{'frame_p50_ms':>13}{'frame_p95_ms':>13}{'flush_ms':>9}{'size_kB':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for codec in get_args(Codec):
            runs = [encode_once(codec, jpegs, times, Path(folder)) for _ in range(args.runs)]
            run = sorted(runs, key=lambda r: r.wall_s)[len(runs) // 2]
            per_frame = sorted(ms for r in runs for ms in r.frame_ms)
            p50 = statistics.median(per_frame)
            p95 = per_frame[min(len(per_frame) - 1, round(0.95 * (len(per_frame) - 1)))]
            profile = PROFILES[codec]
            print(f"{codec:<6}{profile.encoder:<12}{profile.container:<10}{run.video_s:>8.2f}{run.wall_s:>8.2f}"
                  f"{run.video_s / run.wall_s:>11.1f}{p50:>13.1f}{p95:>13.1f}{run.flush_ms:>9.0f}"
                  f"{run.size_bytes / 1024:>8.0f}")


if __name__ == "__main__":
    main()
