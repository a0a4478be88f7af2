"""Round-trip benchmark: real frames through the whole stack, next to the detector's own time.

Starts a private redis-server (no persistence, temp dir) and the ingress, estimator and decider
as real processes (tests/stack.py), all on 127.0.0.1. Sends real video frames (640x480 JPEG q90)
one at a time per session with LPClient, with 1 and then N concurrent sessions, and measures
each frame's round trip (send -> reply) and the throughput. Before the stack starts (so nothing
competes for the CPU) it times the detector in this process on the same frames: JPEG decode,
then ``detect``. Prints a table and writes ``var/bench/roundtrip.json``.

    python -m load.bench_roundtrip [--frames 200] [--sessions 1,4] [--media ../shared/data]

Bounded: a fixed number of frames per run, a reply deadline per frame and a deadline per run.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
import onnxruntime as ort
from PIL import Image
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient
from infra.eval.stack import Stack
from infra.redis_server import RedisServer
from services.estimator.decode import decode_rgb
from services.estimator.main import build_detector
from shared.lpproto import Command
from shared.settings import Env, Settings

ROOT = Path(__file__).resolve().parent.parent
VIDEOS = (
    Path("pad_replay_tranvanluyt") / "videos__real.mp4",
    Path("pyimagesearch_liveness_zubair") / "videos__real.mov",
)
WIDTH, HEIGHT, QUALITY = 640, 480, 90
WARM_UP_FRAMES = 5
FRAME_TIMEOUT_S = 30.0  # the ingress answers ERROR after its own reply timeout (15 s) anyway


def load_frames(media: Path, count: int) -> tuple[list[bytes], dict[str, int]]:
    """``count`` frames, half from each video (consecutive from its start, looping if short),
    letterboxed into 640x480 (aspect kept, black bars) and encoded as JPEG q90."""
    frames: list[bytes] = []
    sources: dict[str, int] = {}
    for number, video in enumerate(VIDEOS):
        wanted = count // len(VIDEOS) + (1 if number < count % len(VIDEOS) else 0)
        if wanted == 0:
            continue
        if not (media / video).is_file():
            raise SystemExit(f"media file {media / video} is missing (see --media)")
        decoded: list[bytes] = []
        with av.open(str(media / video)) as container:
            for frame in container.decode(video=0):
                if len(decoded) >= wanted:
                    break
                decoded.append(to_jpeg_640x480(frame.to_image()))  # type: ignore[no-untyped-call]
        if not decoded:
            raise SystemExit(f"no frames decoded from {media / video}")
        frames += [decoded[i % len(decoded)] for i in range(wanted)]
        sources[str(video)] = wanted
    return frames, sources


def to_jpeg_640x480(image: Image.Image) -> bytes:
    image = image.convert("RGB")
    scale = min(WIDTH / image.width, HEIGHT / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    canvas = Image.new("RGB", (WIDTH, HEIGHT))
    canvas.paste(image.resize(size, Image.Resampling.BILINEAR), ((WIDTH - size[0]) // 2, (HEIGHT - size[1]) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=QUALITY)
    return buffer.getvalue()


@dataclass
class Summary:
    label: str
    frames: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    wall_s: float
    frames_per_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def summarize(label: str, times_s: Sequence[float], wall_s: float, **extra: Any) -> Summary:
    ms = np.asarray(times_s, dtype=np.float64) * 1000.0
    if ms.size == 0:
        ms = np.asarray([np.nan])
    p50, p95, p99 = (float(v) for v in np.percentile(ms, [50, 95, 99]))
    return Summary(label, len(times_s), p50, p95, p99, float(ms.mean()), wall_s,
                   len(times_s) / wall_s if wall_s > 0 else 0.0, extra)


def bench_detector(frames: list[bytes], models_dir: Path) -> tuple[Summary, Summary]:
    """The detector in this process, as the estimator builds it: decode, then detect."""
    settings = Settings(env=Env.DEVELOPMENT, estimator={"models_dir": models_dir})
    detector = build_detector(settings)
    for data in frames[:WARM_UP_FRAMES]:
        detector.detect(decode_rgb(data))
    decode_s: list[float] = []
    detect_s: list[float] = []
    faces = 0
    for data in frames:
        t0 = time.perf_counter()
        image = decode_rgb(data)
        t1 = time.perf_counter()
        found = detector.detect(image)
        t2 = time.perf_counter()
        decode_s.append(t1 - t0)
        detect_s.append(t2 - t1)
        faces += bool(found)
    provider = detector.session.get_providers()[0]
    # frames/s of these rows: one after the other in one thread, i.e. 1 / mean.
    return (summarize("detector: detect (in-process)", detect_s, sum(detect_s), frames_with_face=faces,
                      provider=provider),
            summarize("detector: JPEG decode (in-process)", decode_s, sum(decode_s)))


class Sender:
    """One LPProto session sending frames one by one; a new session when the stack ends one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client: LPClient | None = None
        self.sessions = 0

    async def open(self) -> LPClient:
        if self.client is None:
            client = LPClient(self.url)
            await client.__aenter__()
            try:
                reply = await asyncio.wait_for(client.connect(), FRAME_TIMEOUT_S)
            except BaseException:
                await client.__aexit__()
                raise
            if reply.command is not Command.CONNECTED:
                await client.__aexit__()
                raise RuntimeError(f"CONNECT refused: {reply.message.headers}")
            self.client, self.sessions = client, self.sessions + 1
        return self.client

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.__aexit__()

    async def send(self, frame: bytes) -> tuple[float, str]:
        """Round trip of one frame in seconds and what came back: the reply's command, and for
        STATS whether a face was placed (a session the stack closed is reopened once and the
        frame sent again; only that attempt is timed)."""
        for attempt in range(2):
            client = await self.open()
            began = time.perf_counter()
            try:
                reply = await asyncio.wait_for(client.frame(frame), FRAME_TIMEOUT_S)
            except ConnectionClosed:
                await self.close()
                if attempt:
                    raise
                continue
            elapsed = time.perf_counter() - began
            if reply.command is Command.SUCCESS:
                await self.close()  # the session is over; the next frame opens another
            if reply.command is Command.STATS:
                placed = "faceFramePosition" in reply.stats().get("estimations", {})
                return elapsed, "STATS+face" if placed else "STATS"
            return elapsed, reply.command.value
        raise AssertionError("unreachable")


async def bench_roundtrip(url: str, frames: list[bytes], sessions: int) -> Summary:
    """``len(frames)`` frames shared among ``sessions`` concurrent sessions, each sending its
    next frame only after the reply to its previous one (as LPProto requires)."""
    senders = [Sender(url) for _ in range(sessions)]
    try:
        async def warm_up(sender: Sender, first: int) -> None:
            for i in range(max(1, WARM_UP_FRAMES // sessions)):
                await sender.send(frames[(first + i) % len(frames)])

        await asyncio.gather(*(warm_up(s, i) for i, s in enumerate(senders)))
        queue = iter(range(len(frames)))
        times: list[float] = []
        replies: Counter[str] = Counter()

        async def run(sender: Sender) -> None:
            for index in queue:  # shared iterator: each frame is sent exactly once
                elapsed, command = await sender.send(frames[index])
                times.append(elapsed)
                replies[command] += 1

        began = time.perf_counter()
        await asyncio.gather(*(run(s) for s in senders))
        wall = time.perf_counter() - began
        return summarize(f"round trip, {sessions} session{'s' if sessions > 1 else ''}", times, wall,
                         sessions=sessions, replies=dict(replies),
                         sessions_opened=sum(s.sessions for s in senders))
    finally:
        await asyncio.gather(*(s.close() for s in senders), return_exceptions=True)


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
    }


def print_table(info: dict[str, Any], rows: list[Summary]) -> None:
    m = info["machine"]
    print(f"\nVigil round-trip benchmark, {info['started_at']}")
    print(f"machine: {m['platform']} | cpus {m['cpu_count']} | processor {m['processor']} | "
          f"python {m['python']} | onnxruntime {m['onnxruntime']}")
    sources = ", ".join(f"{n} x {s}" for s, n in info["media"]["sources"].items())
    print(f"frames: {sources}; {WIDTH}x{HEIGHT} JPEG q{QUALITY}, mean {info['media']['mean_jpeg_kib']:.1f} KiB")
    header = f"{'stage':<36} {'frames':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'frames/s':>9}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row.label:<36} {row.frames:>6} {row.p50_ms:>8.1f} {row.p95_ms:>8.1f} {row.p99_ms:>8.1f} "
              f"{row.mean_ms:>8.1f} {row.frames_per_s:>9.1f}")
    for row in rows:
        if row.extra:
            details = ", ".join(f"{k}={v}" for k, v in row.extra.items())
            print(f"  {row.label}: {details}")


async def run_stack(args: argparse.Namespace, frames: list[bytes], levels: list[int]) -> list[Summary]:
    rows: list[Summary] = []
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        redis = RedisServer(Path(tmp) / "redis", persist=False)
        redis.start()
        stack = Stack(redis.url, f"bench{uuid.uuid4().hex[:8]}", Path(tmp) / "stack",
                      VIGIL_ESTIMATOR__MODELS_DIR=str(args.models.resolve()),
                      # Every frame must be answered with STATS: no session may run out of attempts.
                      VIGIL_SESSION__MAX_ATTEMPTS="1000000", VIGIL_SESSION__MAX_LIVENESS_ATTEMPTS="1000000")
        try:
            await asyncio.to_thread(stack.start_all)
            for sessions in levels:
                rows.append(await bench_roundtrip(stack.ws_url, frames, sessions))
        except BaseException:
            for service in ("ingress", "estimator", "decider"):
                print(f"--- {service} log (tail) ---\n{stack.logs(service)[-2000:]}", file=sys.stderr)
            raise
        finally:
            await asyncio.to_thread(stack.stop)
            redis.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.bench_roundtrip", description="Vigil round-trip benchmark")
    parser.add_argument("--frames", type=int, default=200, help="frames per measurement (default 200)")
    parser.add_argument("--sessions", default="1,4",
                        help="comma-separated counts of concurrent sessions, one measurement each (default 1,4)")
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "data",
                        help="folder of the real media (default ../shared/data)")
    parser.add_argument("--models", type=Path, default=ROOT / "var" / "models", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "roundtrip.json")
    parser.add_argument("--deadline", type=float, default=600.0, help="give up after this many seconds")
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.sessions.split(",") if n.strip()]
    if args.frames < 1 or not levels or min(levels) < 1 or max(levels) > 64:
        parser.error("--frames must be >= 1 and --sessions between 1 and 64")

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    frames, sources = load_frames(args.media, args.frames)
    info: dict[str, Any] = {
        "started_at": started_at,
        "machine": machine(),
        "media": {"sources": sources, "width": WIDTH, "height": HEIGHT, "jpeg_quality": QUALITY,
                  "mean_jpeg_kib": sum(map(len, frames)) / len(frames) / 1024},
    }
    detect, decode = bench_detector(frames, args.models)
    try:
        stack_rows = asyncio.run(asyncio.wait_for(run_stack(args, frames, levels), args.deadline))
    except TimeoutError:
        print(f"benchmark did not finish within {args.deadline:.0f} s", file=sys.stderr)
        return 1
    rows = [*stack_rows, detect, decode]
    print_table(info, rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**info, "results": [asdict(r) for r in rows]}, indent=2) + "\n")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
