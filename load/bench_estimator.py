"""Estimator benchmark: the full per-frame analysis in this process, per stage, on the CPU.

No Redis and no other service: the detector and analyser are built as services/estimator/main.py
builds them, and real frames (640x480 JPEG q90 from the two genuine videos that
load/bench_roundtrip.py uses) go through ``EstimatorWorker.analyse_all``, the method the
estimator's consumer calls on each batch it reads, at batch 1 and batch 8. ``analyse_all`` does
not touch Redis (the worker only keeps the client for ``handle``); the sessions' parallax
references are carried from batch to batch here as ``handle`` carries them through Redis, so
parallax runs as it does in service.

Each thread count runs in its own child process, with onnxruntime's intra-op threads set through
the settings (``estimator.intra_op_threads``; 1 and then 2 by default), OpenBLAS/OpenMP limited to
as many threads (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``: they are read when NumPy loads)
and, where the OS allows it, the process pinned to that many CPUs, so "1 thread" means one core
for everything (Pillow, NumPy, OpenBLAS, onnxruntime); process CPU time per frame is reported
next to the wall time, and the load average at the start (a busy machine shows in wall > CPU).
Each runs with the descriptor off (``session.previous_face_similarity = None``: the SFace session is
built but never run) and on.

Reported per configuration: p50 / p95 / mean ms per frame of each stage the worker times
(``Timings.ms``; batched stages charge each frame its share of the batch), of their sum, and of
``analyse_all``'s wall time per frame (stages plus face selection, the estimation message and
its SHA-256), the process CPU ms per frame, and the frames per second of one process
(frames / summed ``analyse_all`` wall time; Redis I/O of the service not included). Prints a
table and writes ``var/bench/estimator.json``.

    python -m load.bench_estimator [--frames 120] [--media ../shared/data] [--threads 1,2]
                                   [--batches 1,8] [--no-pin] [--profile 25]

``--profile N`` also runs the first configuration (first thread count, descriptor off, first batch
size) under cProfile and prints the N functions with the most time spent in them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import numpy as np
from redis.asyncio import Redis

from load.bench_roundtrip import HEIGHT, QUALITY, ROOT, WIDTH, load_frames, machine
from services.estimator.main import build_analyser, build_detector
from services.estimator.parallax import Reference
from services.estimator.worker import EstimatorWorker
from shared.keys import Keys
from shared.live_settings import LiveSettings
from shared.messages import ClientInfo, EstimationMessage, FrameMessage, ImageType, LightSupport
from shared.settings import Env, Settings
from shared.stages import Stage

# Every stage the worker and analyser time, in pipeline order (shared/stages.py).
STAGES = tuple(str(stage) for stage in Stage)
WARM_UP_BATCHES = 2
GOAL_MS = 30.0  # issue 3: the full analysis of one frame, without descriptor, on one core


@dataclass
class Stat:
    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float


def stat(values_ms: Sequence[float]) -> Stat:
    if not values_ms:
        return Stat(0, float("nan"), float("nan"), float("nan"))
    array = np.asarray(values_ms, dtype=np.float64)
    p50, p95 = (float(v) for v in np.percentile(array, [50, 95]))
    return Stat(len(values_ms), p50, p95, float(array.mean()))


@dataclass
class Result:
    threads: int
    descriptor: bool
    batch: int
    frames: int
    frames_with_face: int  # at least one face detected
    frames_analysed: int  # a main face selected and analysed
    pinned_cpus: list[int] | None
    stages: dict[str, Stat]  # over the frames where the stage ran (n)
    total: Stat  # sum of the stages of each frame, over all frames
    total_analysed: Stat  # the same, over the frames whose main face was analysed
    wall: Stat  # analyse_all wall time / batch size, one value per batch
    cpu_ms_per_frame: float  # process CPU time (every thread) / frames
    frames_per_s: float  # frames / summed analyse_all wall time
    blas_threads: str | None = None  # OPENBLAS_NUM_THREADS of the measuring process
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        def revive(value: dict[str, Any]) -> Stat:
            def number(key: str) -> float:
                return float("nan") if value[key] is None else float(value[key])

            return Stat(int(value["n"]), number("p50_ms"), number("p95_ms"), number("mean_ms"))

        return cls(**{**data, "stages": {k: revive(v) for k, v in data["stages"].items()},
                      **{k: revive(data[k]) for k in ("total", "total_analysed", "wall")}})


@contextmanager
def pinned(cpus: int, enabled: bool) -> Iterator[list[int] | None]:
    """The process on its first ``cpus`` allowed CPUs for the block (None: not pinned)."""
    if not enabled or not hasattr(os, "sched_setaffinity"):
        yield None
        return
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[:cpus]
    os.sched_setaffinity(0, chosen)
    try:
        yield chosen
    finally:
        os.sched_setaffinity(0, allowed)


def settings_for(models_dir: Path, threads: int, descriptor: bool) -> Settings:
    """What the estimator would read from VIGIL_* for this configuration, on the CPU path."""
    return Settings(
        env=Env.DEVELOPMENT,
        estimator={"models_dir": models_dir, "device": "cpu", "intra_op_threads": threads},
        # None: the FaceMatcher is off, so no frame asks for a descriptor.
        session={"previous_face_similarity": 0.85 if descriptor else None},
        light_challenge={"is_enabled": True},  # its measurement is timed as a stage ("light")
    )


def build_worker(settings: Settings) -> EstimatorWorker:
    # analyse_all never touches Redis (only handle does, through ReferenceStore), so no client:
    # the cast keeps the constructor's type, and any use of it would fail loudly.
    return EstimatorWorker(cast(Redis, None), Keys("bench"), LiveSettings(cast(Redis, None), Keys("bench"), settings),
                           build_detector(settings),
                           build_analyser(settings))


def frame_messages(frames: list[bytes], batch: int) -> list[list[FrameMessage]]:
    """Batches of ``batch`` frames in order, frame k of each batch from session k: in service a
    batch holds at most one frame per session (LPProto sends the next frame after the reply)."""
    messages = [
        FrameMessage(session_id=f"bench-{index % batch}", request_id=f"r{index}", frame_no=index // batch + 1,
                     received_at=time.time(), content_type=ImageType.JPEG, image=data, width=WIDTH, height=HEIGHT,
                     # A page that paints the light challenge (on by default): its measurement is timed too.
                     client=ClientInfo(light=LightSupport.SHOWN))
        for index, data in enumerate(frames)
    ]
    return [messages[i:i + batch] for i in range(0, len(messages), batch)]


def run_batches(worker: EstimatorWorker, batches: list[list[FrameMessage]]
                ) -> tuple[list[EstimationMessage], list[float], float]:
    """Every batch through analyse_all with the references carried over as ``handle`` does;
    the estimations, each batch's wall seconds and the process CPU seconds of the whole run."""
    references: dict[str, Reference] = {}
    estimations: list[EstimationMessage] = []
    walls: list[float] = []
    cpu_began = time.process_time()
    for frames in batches:
        began = time.perf_counter()
        out, updated = worker.analyse_all(frames, references)
        walls.append(time.perf_counter() - began)
        references.update(updated)
        estimations += out
    return estimations, walls, time.process_time() - cpu_began


def measure(worker: EstimatorWorker, frames: list[bytes], batch: int, threads: int, descriptor: bool,
            cpus: list[int] | None) -> Result:
    batches = frame_messages(frames, batch)
    run_batches(worker, batches[:WARM_UP_BATCHES])  # first-call allocations, caches, thread pools
    estimations, walls, cpu_s = run_batches(worker, batches)
    stages = {name: stat([e.timings[name] for e in estimations if name in e.timings]) for name in STAGES}
    unknown = sorted({k for e in estimations for k in e.timings} - set(STAGES))
    totals = [sum(e.timings.values()) for e in estimations]
    analysed = [t for t, e in zip(totals, estimations, strict=True) if e.analysis is not None]
    wall_ms = [w * 1000 / len(b) for w, b in zip(walls, batches, strict=True)]
    return Result(
        threads=threads, descriptor=descriptor, batch=batch, frames=len(estimations),
        frames_with_face=sum(bool(e.faces) for e in estimations),
        frames_analysed=len(analysed), pinned_cpus=cpus, stages=stages, total=stat(totals),
        total_analysed=stat(analysed), wall=stat(wall_ms), cpu_ms_per_frame=cpu_s * 1000 / len(estimations),
        frames_per_s=len(estimations) / sum(walls), blas_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
        extra={"unknown_stages": unknown} if unknown else {},
    )


def profile(worker: EstimatorWorker, frames: list[bytes], batch: int, top: int) -> str:
    """cProfile of one pass (after a warm-up), the ``top`` functions by own time, then by cumulative."""
    batches = frame_messages(frames, batch)
    run_batches(worker, batches[:WARM_UP_BATCHES])
    profiler = cProfile.Profile()
    profiler.enable()
    run_batches(worker, batches)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats(pstats.SortKey.TIME).print_stats(top)
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(top)
    return out.getvalue()


def print_table(info: dict[str, Any], results: list[Result]) -> None:
    m = info["machine"]
    print(f"\nVigil estimator benchmark (in-process, CPU), {info['started_at']}")
    print(f"machine: {m['platform']} | cpus {m['cpu_count']} | processor {m['processor']} | "
          f"python {m['python']} | onnxruntime {m['onnxruntime']} | numpy {m['numpy']} | "
          f"load average at start {m['load_average']}")
    sources = ", ".join(f"{n} x {s}" for s, n in info["media"]["sources"].items())
    print(f"frames: {sources}; {WIDTH}x{HEIGHT} JPEG q{QUALITY}, mean {info['media']['mean_jpeg_kib']:.1f} KiB")
    print("ms per frame; batched stages charge each frame its share; n = frames where the stage ran")
    groups: dict[tuple[int, bool], list[Result]] = {}
    for result in results:
        groups.setdefault((result.threads, result.descriptor), []).append(result)
    for (threads, descriptor), rows in groups.items():
        pinned_to = rows[0].pinned_cpus
        where = f"pinned to cpu {','.join(map(str, pinned_to))}" if pinned_to is not None else "not pinned"
        print(f"\nintra-op threads {threads} ({where}, OpenBLAS threads {rows[0].blas_threads or 'default'}), "
              f"descriptor {'on' if descriptor else 'off'}")
        header = f"{'stage':<26}" + "".join(f" {'n':>4} {f'b{r.batch} p50':>8} {f'b{r.batch} p95':>8} "
                                            f"{f'b{r.batch} mean':>8} |" for r in rows)
        print(header)
        print("-" * len(header))

        def line(label: str, stats: list[Stat]) -> None:
            print(f"{label:<26}" + "".join(f" {s.n:>4} {s.p50_ms:>8.2f} {s.p95_ms:>8.2f} {s.mean_ms:>8.2f} |"
                                           for s in stats))

        for name in STAGES:
            if any(r.stages[name].n for r in rows):
                line(name, [r.stages[name] for r in rows])
        line("total (stages)", [r.total for r in rows])
        line("total, analysed frames", [r.total_analysed for r in rows])
        line("analyse_all wall / frame", [r.wall for r in rows])
        print(f"{'cpu ms / frame':<26}" + "".join(f" {'':>4} {r.cpu_ms_per_frame:>8.2f} {'':>8} {'':>8} |"
                                                  for r in rows))
        print(f"{'frames/s (one process)':<26}" + "".join(f" {'':>4} {r.frames_per_s:>8.1f} {'':>8} {'':>8} |"
                                                          for r in rows))
        print(f"{'frames: face / analysed':<26}" + "".join(
            f" {'':>4} {f'{r.frames_with_face}/{r.frames_analysed}':>8} {'':>8} {'':>8} |" for r in rows))
    one_core = [r for r in results if r.threads == 1 and not r.descriptor and r.pinned_cpus is not None]
    for r in one_core:
        verdict = "meets" if r.total_analysed.p50_ms < GOAL_MS else "misses"
        print(f"\ngoal (< {GOAL_MS:.0f} ms, full analysis without descriptor, one core), batch {r.batch}: "
              f"p50 {r.total_analysed.p50_ms:.1f} ms over analysed frames -> {verdict}")
    for r in results:
        if r.extra:
            print(f"  threads {r.threads}, descriptor {r.descriptor}, batch {r.batch}: {r.extra}")


def run_child(threads: int, args: argparse.Namespace, profile_top: int) -> list[Result]:
    """One thread count in a fresh process: OpenBLAS reads its thread count when NumPy loads."""
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        out = Path(tmp) / "results.json"
        command = [sys.executable, "-m", "load.bench_estimator", "--child", str(threads),
                   "--frames", str(args.frames), "--media", str(args.media), "--batches", args.batches,
                   "--models", str(args.models), "--profile", str(profile_top), "--out", str(out)]
        if not args.pin:
            command.append("--no-pin")
        env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
               "MKL_NUM_THREADS": str(threads)}
        subprocess.run(command, env=env, cwd=ROOT, check=True)
        return [Result.from_json(r) for r in json.loads(out.read_text())]


def measure_threads(threads: int, args: argparse.Namespace, frames: list[bytes]) -> list[Result]:
    """Every configuration of one thread count, in this process."""
    batch_sizes = [int(n) for n in args.batches.split(",") if n.strip()]
    results: list[Result] = []
    with pinned(threads, args.pin) as cpus:  # before any session exists, so onnxruntime sees it
        for descriptor in (False, True):
            worker = build_worker(settings_for(args.models, threads, descriptor))
            if args.profile and not descriptor:
                text = profile(worker, frames, batch_sizes[0], args.profile)
                print(f"\ncProfile, intra-op threads {threads}, descriptor off, batch {batch_sizes[0]}:\n{text}")
            for batch in batch_sizes:
                results.append(measure(worker, frames, batch, threads, descriptor, cpus))
    return results


def finite(value: Any) -> Any:
    """NaN (a stage that never ran) as null: strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.bench_estimator",
                                     description="Vigil estimator benchmark (in-process, per stage)")
    parser.add_argument("--frames", type=int, default=120, help="frames per measurement (default 120)")
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "data",
                        help="folder of the real media (default ../shared/data)")
    parser.add_argument("--threads", default="1,2",
                        help="comma-separated onnxruntime intra-op thread counts (default 1,2)")
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes (default 1,8)")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin the process to as many CPUs as intra-op threads")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print the top N functions of a cProfile run (first thread count, "
                             "descriptor off, first batch size)")
    parser.add_argument("--models", type=Path, default=ROOT / "var" / "models", help=argparse.SUPPRESS)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)  # one thread count, raw JSON
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "estimator.json")
    args = parser.parse_args(argv)
    try:
        thread_counts = [int(n) for n in args.threads.split(",") if n.strip()]
        batch_sizes = [int(n) for n in args.batches.split(",") if n.strip()]
    except ValueError:
        parser.error("--threads and --batches take comma-separated integers")
    if args.frames < 1 or not thread_counts or min(thread_counts) < 1 or not batch_sizes or min(batch_sizes) < 1:
        parser.error("--frames, --threads and --batches must be >= 1")
    args.media, args.models = args.media.resolve(), args.models.resolve()

    if args.child is not None:
        frames, _ = load_frames(args.media, args.frames)
        measured = measure_threads(args.child, args, frames)
        args.out.write_text(json.dumps(finite([asdict(r) for r in measured])))
        return 0

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    frames, sources = load_frames(args.media, args.frames)
    info: dict[str, Any] = {
        "started_at": started_at,
        "machine": {**machine(), "numpy": np.__version__,
                    "load_average": " ".join(f"{v:.2f}" for v in os.getloadavg()),
                    "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None},
        "media": {"sources": sources, "width": WIDTH, "height": HEIGHT, "jpeg_quality": QUALITY,
                  "mean_jpeg_kib": sum(map(len, frames)) / len(frames) / 1024},
        "goal_ms": GOAL_MS,
    }
    results: list[Result] = []
    for number, threads in enumerate(thread_counts):
        results += run_child(threads, args, args.profile if number == 0 else 0)
    print_table(info, results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(finite({**info, "results": [asdict(r) for r in results]}), indent=2) + "\n")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
