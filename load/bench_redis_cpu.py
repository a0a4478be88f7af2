"""Redis CPU per 100 frames/s: what the one Redis spends on real ~40 KB frames through the pipeline.

Starts a private redis-server configured as `vigil run`'s embedded one (append-only file, 1 GiB
bound; ``--no-persist`` for none) and the services `vigil run` starts by default that touch frames
(ingress, two estimators, decider, plugins, video builder) as real processes (infra/eval/stack.py),
with `vigil run`'s defaults for everything that changes Redis traffic (active liveness, FileLogger,
light and virtual-camera checks, face matcher, bus timings); only admission and abuse limits are off,
as in the capacity benchmark, so every simulated person is served. N paced sessions
(load/capacity/session.py) send one real face (tests/media.py, NEUTRAL_FACE) re-encoded to the
JPEG quality whose size is nearest ``--frame-kb``. Around a steady window, Redis's own ``INFO cpu``,
``INFO commandstats`` and ``INFO memory`` are read, and the redis-server's CPU from /proc as a
cross-check. Prints a summary and writes ``var/bench/redis_cpu.json``:

    python -m load.bench_redis_cpu [--sessions 4,8] [--fps 5] [--window 60] [--frame-kb 40] [--no-persist]

The figure is per frame: the pipeline's own rate is bounded by this machine's cores, Redis is not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from infra.eval.stack import Stack
from infra.redis_server import Persistence, RedisServer
from load.bench_roundtrip import machine
from load.capacity.cpu import CpuMeter
from load.capacity.report import Level, as_json, summarise
from load.capacity.session import PacedSession, Tally
from load.capacity.target import Process
from shared.keys import Keys
from shared.settings import RedisSettings
from tests.media import NEUTRAL_FACE, jpeg, photo

ROOT = Path(__file__).resolve().parent.parent
# What `vigil run` starts (infra/launcher.py SERVICES, one estimator per core on 2 cores), less the
# admin process, which serves pages and sends Redis nothing per frame.
SERVICES = ("ingress", "estimator", "estimator", "decider", "plugins", "videobuilder")
# Settings infra/eval/stack.py changes for its tests that `vigil run` leaves at their defaults and
# that change what reaches Redis per frame: dropped from the stack's environment, so they apply.
STACK_TEST_OVERRIDES = (
    "VIGIL_ACTIVE_LIVENESS__IS_ENABLED", "VIGIL_LIGHT_CHALLENGE__IS_ENABLED",
    "VIGIL_VIRTUAL_CAMERA_CHECKER__IS_ENABLED", "VIGIL_SESSION__PREVIOUS_FACE_SIMILARITY",
    "VIGIL_FILE_LOGGER__IS_ENABLED", "VIGIL_BUS__CLAIM_IDLE_MS", "VIGIL_BUS__BLOCK_MS",
)
STOP_GRACE_S = 35.0  # a session's last frame may still wait for its reply
TOP_COMMANDS = 10
# Redis counts a command run inside MULTI/EXEC or a Lua script under its own name too, and the EXEC
# or EVALSHA's time includes it: EXEC stays out of the total (it adds little but the queued
# commands); EVALSHA stays in (its Lua call and argument copies are its own), its share a little high.
WRAPPERS = frozenset({"exec"})
INCLUSIVE = frozenset({"exec", "eval", "evalsha"})


def frame_near(media: Path, target_bytes: int, max_side: int = 640) -> tuple[bytes, int]:
    """The real face as JPEG at the quality (1-95) whose size is nearest ``target_bytes``."""
    image = photo(media, NEUTRAL_FACE, max_side)
    sized = {quality: jpeg(image, quality) for quality in range(1, 96)}
    quality = min(sized, key=lambda q: abs(len(sized[q]) - target_bytes))
    return sized[quality], quality


def share_per_100_fps(cpu_s_per_s: float, fps: float) -> float:
    """Percent of one core per 100 frames/s: (CPU seconds per frame) x 100 frames x 100 %."""
    return cpu_s_per_s / fps * 100.0 * 100.0 if fps > 0 else float("nan")


@dataclass(frozen=True)
class RedisSample:
    cpu_s: float  # used_cpu_sys + used_cpu_user: the server process, all its threads
    main_thread_cpu_s: float | None  # the *_main_thread pair, where this Redis reports it
    children_cpu_s: float  # forked children (AOF rewrites)
    commands: dict[str, tuple[int, int]]  # command -> (calls, usec)
    used_memory: int
    used_memory_peak: int
    frames_stream: int


async def sample(client: Redis, keys: Keys) -> RedisSample:
    cpu: dict[str, Any] = await client.info("cpu")
    stats: dict[str, Any] = await client.info("commandstats")
    memory: dict[str, Any] = await client.info("memory")
    main = ("used_cpu_sys_main_thread", "used_cpu_user_main_thread")
    return RedisSample(
        float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"]),
        sum(float(cpu[k]) for k in main) if all(k in cpu for k in main) else None,
        float(cpu["used_cpu_sys_children"]) + float(cpu["used_cpu_user_children"]),
        {name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"])) for name, v in stats.items()},
        int(memory["used_memory"]), int(memory["used_memory_peak"]), int(await client.xlen(keys.frames)))


def redis_figures(before: RedisSample, after: RedisSample, seconds: float, frames: int) -> dict[str, Any]:
    fps = frames / seconds
    cpu_s_per_s = (after.cpu_s - before.cpu_s) / seconds
    main = (None if after.main_thread_cpu_s is None or before.main_thread_cpu_s is None
            else (after.main_thread_cpu_s - before.main_thread_cpu_s) / seconds)
    deltas = {name: (calls - before.commands.get(name, (0, 0))[0], usec - before.commands.get(name, (0, 0))[1])
              for name, (calls, usec) in after.commands.items()}
    total_usec = sum(usec for name, (_, usec) in deltas.items() if name not in WRAPPERS) or 1
    commands = [{"command": name, "calls": calls, "calls_per_frame": round(calls / max(frames, 1), 2),
                 "usec": usec, "usec_per_call": round(usec / calls, 2) if calls else 0.0,
                 "usec_share": round(usec / total_usec, 4), "includes_inner_commands": name in INCLUSIVE}
                for name, (calls, usec) in sorted(deltas.items(), key=lambda item: -item[1][1]) if calls]
    return {
        "frames_per_s": round(fps, 2),
        "cpu_s_per_s": round(cpu_s_per_s, 4),
        "cpu_pct_one_core_per_100_fps": round(share_per_100_fps(cpu_s_per_s, fps), 2),
        "main_thread_cpu_s_per_s": None if main is None else round(main, 4),
        "main_thread_pct_one_core_per_100_fps": None if main is None else round(share_per_100_fps(main, fps), 2),
        "children_cpu_s_per_s": round((after.children_cpu_s - before.children_cpu_s) / seconds, 4),
        "commands_usec_per_frame": round(total_usec / max(frames, 1), 1),
        "commands": commands,
        "used_memory_mb": round(after.used_memory / 1e6, 1),
        "used_memory_peak_mb": round(after.used_memory_peak / 1e6, 1),
        "frames_stream_entries": after.frames_stream,
    }


async def measure(args: argparse.Namespace, sessions: int, stack: Stack, redis: RedisServer,
                  frame: bytes) -> dict[str, Any]:
    """One level: ``sessions`` paced sessions, a warm-up, then the window between two samples."""
    assert redis.process is not None
    processes = [Process(p.pid, name) for name, p in stack.processes] + [Process(redis.process.pid, "redis-server")]
    tally, stop, cpu, rng = Tally(), asyncio.Event(), CpuMeter(), random.Random(sessions)
    keys = Keys(stack.prefix)

    async def person() -> None:
        await asyncio.sleep(rng.uniform(0, 1.0 / args.fps))  # people do not send in step
        await PacedSession(stack.ws_url, [frame], 0, args.fps, tally).run(stop)

    client = Redis.from_url(redis.url)
    try:
        tasks = [asyncio.create_task(person()) for _ in range(sessions)]
        await asyncio.sleep(args.warm_up)
        cpu.begin(processes)
        before, start, load_before = await sample(client, keys), time.monotonic(), os.getloadavg()
        await asyncio.sleep(args.window)
        after, end, load_after = await sample(client, keys), time.monotonic(), os.getloadavg()
        spent, busy = cpu.end(processes)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), STOP_GRACE_S)
    finally:
        await client.aclose()
    level: Level = summarise(sessions, args.fps, tally, (start, end), spent, busy)
    figures = redis_figures(before, after, end - start, level.frames)
    proc_s_per_s = spent.get("redis-server", 0.0) / (end - start)
    return {**figures, "proc_cpu_s_per_s": round(proc_s_per_s, 4),
            "proc_cpu_pct_one_core_per_100_fps": round(share_per_100_fps(proc_s_per_s, figures["frames_per_s"]), 2),
            "loadavg_before": load_before, "loadavg_after": load_after, "pipeline": as_json(level)}


async def run(args: argparse.Namespace, frame: bytes, folder: Path) -> list[dict[str, Any]]:
    redis = RedisServer(folder / "redis", persist=args.persist,
                        persistence=Persistence(maxmemory_mb=RedisSettings().embedded_maxmemory_mb))
    redis.start()
    stack = Stack(redis.url, f"redcpu{uuid.uuid4().hex[:8]}", folder / "stack",
                  VIGIL_ESTIMATOR__MODELS_DIR=str(args.models.resolve()))
    for key in STACK_TEST_OVERRIDES:
        stack.env.pop(key, None)
    try:
        for service in SERVICES:
            stack.start(service)
        await asyncio.to_thread(stack.wait_ready, tuple(dict.fromkeys(SERVICES)), 180.0)
        levels = []
        for number, sessions in enumerate(args.sessions):
            if number:
                await asyncio.sleep(args.pause)  # the last level's replies and backlog drain
            levels.append(await measure(args, sessions, stack, redis, frame))
            print(summary(levels[-1]) + "\n", flush=True)
        return levels
    except BaseException:
        for service in dict.fromkeys(SERVICES):
            print(f"--- {service} log (tail) ---\n{stack.logs(service)[-1500:]}", file=sys.stderr)
        raise
    finally:
        await asyncio.to_thread(stack.stop)
        redis.stop()


def summary(result: dict[str, Any]) -> str:
    pipe, main = result["pipeline"], result["main_thread_cpu_s_per_s"]
    lines = [
        f"{pipe['sessions']} sessions x {pipe['fps_per_session']:g} frames/s asked; window {pipe['window_s']:.1f} s; "
        f"load average {result['loadavg_before'][0]:.2f} -> {result['loadavg_after'][0]:.2f}, "
        f"machine busy {pipe['machine_busy']:.0%}",
        f"frames answered: {pipe['frames']} = {result['frames_per_s']:.2f} frames/s "
        f"(p50 {pipe['p50_ms']:.0f} ms, p95 {pipe['p95_ms']:.0f} ms, errors {pipe['errors']})",
        f"Redis CPU (INFO cpu, process): {result['cpu_s_per_s']:.4f} s/s = "
        f"{result['cpu_pct_one_core_per_100_fps']:.2f} % of one core per 100 frames/s",
        "Redis main thread: " + ("not reported by this Redis" if main is None else
                                 f"{main:.4f} s/s = {result['main_thread_pct_one_core_per_100_fps']:.2f} % "
                                 "per 100 frames/s"),
        f"redis-server from /proc: {result['proc_cpu_s_per_s']:.4f} s/s = "
        f"{result['proc_cpu_pct_one_core_per_100_fps']:.2f} % per 100 frames/s; "
        f"forked children (AOF rewrite): {result['children_cpu_s_per_s']:.4f} s/s",
        f"commands: {result['commands_usec_per_frame']:.1f} usec per frame (commandstats); memory used "
        f"{result['used_memory_mb']:.1f} MB (peak {result['used_memory_peak_mb']:.1f} MB), "
        f"frames stream {result['frames_stream_entries']} entries",
        f"{'command':<18} {'calls/frame':>11} {'usec/call':>10} {'usec/frame':>10} {'usec share':>10}",
    ]
    lines += [f"{c['command'] + ('*' if c['includes_inner_commands'] else ''):<18} {c['calls_per_frame']:>11.2f} "
              f"{c['usec_per_call']:>10.1f} {c['usec_per_call'] * c['calls_per_frame']:>10.1f} {c['usec_share']:>10.1%}"
              for c in result["commands"][:TOP_COMMANDS]]
    lines.append("* includes the commands it runs, also counted under their own names (EXEC: not in the total)")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m load.bench_redis_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="4,8", help="concurrent paced sessions, one level each (4,8)")
    parser.add_argument("--fps", type=float, default=5.0, help="frames per second of each session")
    parser.add_argument("--warm-up", type=float, default=15.0, help="seconds before the window")
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured per level")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between levels")
    parser.add_argument("--frame-kb", type=float, default=40.0, help="wanted JPEG size, in kB (1000 bytes)")
    parser.add_argument("--persist", action=argparse.BooleanOptionalAction, default=True,
                        help="Redis with the append-only file, as `vigil run`'s embedded one (default)")
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models", type=Path, default=ROOT / "var" / "models", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "redis_cpu.json")
    args = parser.parse_args(argv)
    try:
        args.sessions = [int(n) for n in args.sessions.split(",") if n.strip()]
    except ValueError:
        parser.error("--sessions takes numbers like 4,8")
    if (not args.sessions or not 1 <= min(args.sessions) <= max(args.sessions) <= 200 or not 0 < args.fps <= 30
            or args.window <= 0 or not 1 <= args.frame_kb <= 4000):
        parser.error("--sessions 1-200, --fps 0-30, --window > 0, --frame-kb 1-4000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frame, quality = frame_near(args.media, round(args.frame_kb * 1000))
    width, height = photo(args.media, NEUTRAL_FACE, 640).size
    info = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
            "services": list(SERVICES), "redis_persist": args.persist, "warm_up_s": args.warm_up,
            "frame": {"source": NEUTRAL_FACE, "bytes": len(frame), "quality": quality, "width": width,
                      "height": height}}
    print(f"Vigil Redis CPU benchmark, {info['started_at']}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.2f}, Redis {'with' if args.persist else 'without'} AOF\n"
          f"frame: {len(frame):,} bytes ({width}x{height} JPEG q{quality}, {NEUTRAL_FACE})\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="vigil-redis-cpu-") as tmp:
        levels = asyncio.run(run(args, frame, Path(tmp)))
    print(f"{'sessions':>8} {'frames/s':>8} {'Redis s/s':>9} {'% core per 100 f/s':>18} {'main thread':>11}")
    for lv in levels:
        main = lv["main_thread_pct_one_core_per_100_fps"]
        print(f"{lv['pipeline']['sessions']:>8} {lv['frames_per_s']:>8.2f} {lv['cpu_s_per_s']:>9.4f} "
              f"{lv['cpu_pct_one_core_per_100_fps']:>18.2f} {'-' if main is None else f'{main:.2f}':>11}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**info, "levels": levels}, indent=2) + "\n")
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
