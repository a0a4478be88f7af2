"""Capacity benchmark: N concurrent people checking at once, each a paced LPProto session.

Starts `vigil run` as a user would (its defaults: active liveness, FaceMatcher and videos on; only
ports and folders private, see load/capacity/target.py), or uses one already running (--url).
For each N of the sweep: N sessions each send real 640x480 JPEG frames at a fixed rate (5/s),
waiting for each reply as LPProto requires and starting a new session whenever the service ends
one; after a warm-up, a measurement window gives the round trip p50/p95/p99, the frames answered
per second, errors, refusals and close codes, and the CPU milliseconds per answered frame of each
process (from /proc). Prints a table and writes JSON and an SVG plot:

    python -m load.bench_capacity [--sessions 4,8,12,16] [--fps 5] [--window 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from load.bench_roundtrip import VIDEOS, load_frames, machine
from load.capacity.cpu import CpuMeter
from load.capacity.report import Level, as_json, summarise, svg, table
from load.capacity.session import PacedSession, Tally
from load.capacity.target import Process, VigilRun, role_of

ROOT = Path(__file__).resolve().parent.parent
CLIP_FRAMES = 150  # per video: a session plays one person's consecutive frames, looping
STOP_GRACE_S = 35.0  # a session's last frame may still wait for its reply


async def level(url: str, clips: list[list[bytes]], sessions: int, fps: float, warm_up_s: float, window_s: float,
                processes: list[Process]) -> Level:
    tally, stop, cpu = Tally(), asyncio.Event(), CpuMeter()
    rng = random.Random(sessions)

    async def person(number: int) -> None:
        await asyncio.sleep(rng.uniform(0, 1.0 / fps))  # people do not send in step
        clip = clips[number % len(clips)]
        await PacedSession(url, clip, rng.randrange(len(clip)), fps, tally).run(stop)

    tasks = [asyncio.create_task(person(n)) for n in range(sessions)]
    await asyncio.sleep(warm_up_s)
    cpu.begin(processes)
    start, generator_start = time.monotonic(), time.process_time()
    await asyncio.sleep(window_s)
    end, generator_s = time.monotonic(), time.process_time() - generator_start
    spent, busy = cpu.end(processes)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), STOP_GRACE_S)
    return summarise(sessions, fps, tally, (start, end), spent, busy, generator_s)


def running_vigil_processes() -> list[Process]:
    """For --url: every Vigil process of this machine, found by its command line."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            role = role_of(int(entry.name))
            if role in {"ingress", "estimator", "decider", "plugins", "videobuilder", "admin", "redis-server"}:
                found.append(Process(int(entry.name), role))
    return found


async def sweep(args: argparse.Namespace, url: str, processes: list[Process], clips: list[list[bytes]]) -> list[Level]:
    levels = []
    for sessions in args.sessions:
        result = await level(url, clips, sessions, args.fps, args.warm_up, args.window, processes)
        levels.append(result)
        print(table([result]).splitlines()[2], flush=True)
        await asyncio.sleep(args.pause)  # let the last sessions' videos and backlog drain
    return levels


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m load.bench_capacity", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="4,8,12,16", help="comma-separated concurrent sessions")
    parser.add_argument("--fps", type=float, default=5.0, help="frames per second of each session")
    # Long enough for admission control (on by default) to grow its limit to the new level, one
    # session per 2.5 s, so the window measures the level and not the ramp to it.
    parser.add_argument("--warm-up", type=float, default=20.0, help="seconds before each window")
    parser.add_argument("--window", type=float, default=30.0, help="seconds measured per level")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds between levels")
    parser.add_argument("--url", default=None, help="a running Vigil's ws:// URL instead of starting `vigil run`")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="an environment setting for the started `vigil run` (repeatable)")
    parser.add_argument("--scale", action="append", default=[], metavar="SERVICE=N",
                        help="passed to the started `vigil run` (repeatable), e.g. estimator=2")
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "capacity.json")
    args = parser.parse_args(argv)
    try:
        args.sessions = [int(n) for n in args.sessions.split(",") if n.strip()]
        args.env = dict(item.split("=", 1) for item in args.env)
    except ValueError:
        parser.error("--sessions takes numbers like 4,8,12 and --env takes KEY=VALUE")
    if not args.sessions or min(args.sessions) < 1 or max(args.sessions) > 200 or not 0 < args.fps <= 30:
        parser.error("--sessions between 1 and 200, --fps between 0 and 30")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frames, _ = load_frames(args.media, CLIP_FRAMES * len(VIDEOS))
    clips = [frames[i * CLIP_FRAMES:(i + 1) * CLIP_FRAMES] for i in range(len(VIDEOS))]
    info = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
            "fps_per_session": args.fps, "window_s": args.window, "warm_up_s": args.warm_up,
            "target": args.url or "vigil run (defaults)", "env": args.env,
            "scale": args.scale}
    print(f"Vigil capacity benchmark, {info['started_at']}: {info['machine']}")
    with tempfile.TemporaryDirectory(prefix="vigil-capacity-") as tmp:
        run = None if args.url else VigilRun(Path(tmp), tuple(args.scale), **args.env)
        try:
            if run is not None:
                run.start()
            url = run.ws_url if run is not None else args.url
            processes = run.processes() if run is not None else running_vigil_processes()
            print(table([]).splitlines()[0], flush=True)
            levels = asyncio.run(sweep(args, url, processes, clips))
        except BaseException:
            if run is not None:
                print(f"--- vigil run (tail) ---\n{run.log_tail()}", file=sys.stderr)
            raise
        finally:
            if run is not None:
                run.stop()
    print("\n" + table(levels))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**info, "levels": [as_json(lv) for lv in levels]}, indent=2) + "\n")
    title = f"Vigil capacity, {args.fps:g} frames/s per session, {info['machine']['cpu_count']} cores"
    args.out.with_suffix(".svg").write_text(svg(levels, title))
    print(f"\nwritten {args.out} and {args.out.with_suffix('.svg')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
