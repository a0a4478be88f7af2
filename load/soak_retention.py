"""Retention soak: Redis memory, AOF size and consumer lag under steady load (docs/operations.md).

Starts a private redis-server configured as `vigil run` configures the embedded one (AOF only,
rewrite thresholds, maxmemory with noeviction, a password) and the ingress, estimator, decider,
plugins (FileLogger on) and video builder as real processes, all on 127.0.0.1. Sessions send real
640x480 JPEG frames paced to ``--rate`` frames a second in all (default 17: 70 % of the 24.6
frames/s measured with 4 sessions in README); each session ends after ``--frames-per-session``
frames or on its success, and a new one starts. Every ``--sample-s`` it records Redis's
used_memory, the AOF's size, the frames stream's length and each consumer group's lag behind the
frames stream, and each service's resident memory (RSS from /proc), the estimations stream's length
and the pending entries of every consumer group; the start (after the streams reach their age bound,
bus.frames_max_age_s, and a minute more; at least 2 minutes) and the end are
compared with the reply p95 over the two minutes around each. Stops by itself after ``--minutes``
(default 30; a hard deadline 3 minutes later), prints a summary and writes ``var/bench/soak.json``.
``make soak`` runs it at 70 % of the capacity measured in docs/capacity.md.

    python -m load.soak_retention [--minutes 30] [--rate 17] [--sessions 4] [--media ../shared/data]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient
from infra.eval.stack import Stack
from infra.redis_server import Persistence, RedisServer
from load.bench_roundtrip import load_frames, machine
from shared.bus import text
from shared.keys import Keys
from shared.lag import entry_ms
from shared.lpproto import Command

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("ingress", "estimator", "decider", "plugins", "videobuilder")
MAXMEMORY_MB = 1024  # redis.embedded_maxmemory_mb's default
# The start figures are taken after this: models loaded, and the image streams filled to their age
# bound (bus.frames_max_age_s) and a minute more, so the start is the steady state, not the filling.
WARM_UP_S = 120.0
STREAM_FILL_MARGIN_S = 60.0
P95_WINDOW_S = 120.0  # the reply p95 at the start and at the end, each over this long


async def session(url: str, frames: list[bytes], period_s: float, per_session: int, until: float,
                  round_trips: list[tuple[float, float]], replies: Counter[str]) -> int:
    """One client after another on this lane, each sending at most ``per_session`` paced frames;
    each reply's (when, seconds) goes into ``round_trips``, its command (ERROR with its code) into
    ``replies``."""
    sent = 0
    while time.monotonic() < until:
        try:
            async with LPClient(url) as client:
                if (await client.connect()).command is not Command.CONNECTED:
                    await asyncio.sleep(1)
                    continue
                for _ in range(per_session):
                    began = time.monotonic()
                    if began >= until:
                        break
                    reply = await client.frame(frames[sent % len(frames)])
                    round_trips.append((began, time.monotonic() - began))
                    replies[reply.command.value if reply.command is not Command.ERROR
                            else f"ERROR {reply.error_code}"] += 1
                    sent += 1
                    if reply.command is Command.SUCCESS:
                        break
                    await asyncio.sleep(max(0.0, period_s - (time.monotonic() - began)))
        except (ConnectionClosed, OSError):
            await asyncio.sleep(0.5)
    return sent


async def sample(redis: Redis, keys: Keys, redis_dir: Path, started: float, stack: Stack) -> dict[str, Any]:
    memory = await redis.info("memory")
    aof = redis_dir / "appendonly.aof"
    lags: dict[str, float] = {}
    pending: dict[str, int] = {}
    try:
        for stream in (keys.frames, keys.estimations):
            for group in await redis.xinfo_groups(stream):
                name = f"{stream.rsplit(':', 1)[-1]}/{text(group['name'])}"
                pending[name] = int(group["pending"])
                if stream == keys.frames:
                    last = entry_ms(text(group["last-delivered-id"]))
                    lags[text(group["name"])] = round(max(0.0, time.time() - last / 1000), 2) if last else 0.0
    except ResponseError:  # the streams do not exist before the first frame
        pass
    return {"t_s": round(time.monotonic() - started, 1), "used_memory_mb": round(memory["used_memory"] / 2**20, 1),
            "aof_mb": round(aof.stat().st_size / 2**20, 1) if aof.exists() else 0.0,
            "frames_len": await redis.xlen(keys.frames), "estimations_len": await redis.xlen(keys.estimations),
            "lag_s": lags, "pending": pending, "rss_mb": rss_by_service(stack)}


def rss_by_service(stack: Stack) -> dict[str, float]:
    """Resident memory of each service's processes (summed over instances), from /proc."""
    rss: dict[str, float] = {}
    for name, process in stack.processes:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue  # gone
        kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        rss[name] = round(rss.get(name, 0.0) + kib / 1024, 1)
    return rss


def p95_ms(round_trips: list[tuple[float, float]], since: float, until: float) -> float | None:
    window = [seconds for at, seconds in round_trips if since <= at < until]
    return round(float(np.percentile(window, 95)) * 1000, 1) if window else None  # as load/capacity/report.py


# Per-session keys whose size the retention table multiplies by the sessions alive (docs/operations.md).
KEY_KINDS = ("reply", "session", "plugin-results", "file-log:progress", "estimator:reference", "estimator:track",
             "decider:state", "decider:bestshot", "audit", "video:frames", "video:task", "result")
KIND_SAMPLE = 30  # keys measured per kind


async def key_sizes(redis: Redis, prefix: str) -> dict[str, dict[str, float]]:
    """MEMORY USAGE of up to KIND_SAMPLE keys of each kind, and how many there are."""
    sizes: dict[str, dict[str, float]] = {}
    for kind in KEY_KINDS:
        names = [name async for name in redis.scan_iter(f"{prefix}:{kind}:*", count=500)]
        measured = [await redis.memory_usage(name) or 0 for name in names[:KIND_SAMPLE]]
        if names:
            sizes[kind] = {"keys": len(names), "mean_kib": round(sum(measured) / len(measured) / 1024, 1)}
    for stream in ("frames", "estimations", "decisions", "session-events", "videos"):
        sizes[stream] = {"entries": await redis.xlen(f"{prefix}:{stream}"),
                         "kib": round((await redis.memory_usage(f"{prefix}:{stream}", samples=0) or 0) / 1024, 1)}
    return sizes


async def soak(args: argparse.Namespace, frames: list[bytes]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vigil-soak-") as tmp:
        redis_dir = Path(tmp) / "redis"
        server = RedisServer(redis_dir, password=uuid.uuid4().hex, persistence=Persistence(maxmemory_mb=MAXMEMORY_MB))
        server.start()
        prefix = f"soak{uuid.uuid4().hex[:8]}"
        stack = Stack(server.url, prefix, Path(tmp) / "stack", VIGIL_FILE_LOGGER__IS_ENABLED="true",
                      VIGIL_ESTIMATOR__MODELS_DIR=str(args.models.resolve()),
                      VIGIL_SESSION__MAX_ATTEMPTS="1000000", VIGIL_SESSION__MAX_LIVENESS_ATTEMPTS="1000000",
                      VIGIL_BUS__FRAMES_MAX_AGE_S=str(args.frames_max_age_s))
        redis = Redis.from_url(server.url)
        samples: list[dict[str, Any]] = []
        round_trips: list[tuple[float, float]] = []
        replies: Counter[str] = Counter()
        try:
            await asyncio.to_thread(stack.start_all, *SERVICES)
            for _ in range(args.estimators - 1):  # as `vigil run` does: one estimator per core
                await asyncio.to_thread(stack.start, "estimator")
            started = time.monotonic()
            until = started + args.minutes * 60
            lanes = [asyncio.create_task(session(stack.ws_url, frames, args.sessions / args.rate,
                                                 args.frames_per_session, until, round_trips, replies))
                     for _ in range(args.sessions)]
            while time.monotonic() < until:
                samples.append(await sample(redis, Keys(prefix), redis_dir, started, stack))
                print(json.dumps(samples[-1]), flush=True)
                await asyncio.sleep(min(args.sample_s, max(0.0, until - time.monotonic())))
            sent = sum(await asyncio.gather(*lanes))
            samples.append(await sample(redis, Keys(prefix), redis_dir, started, stack))
            wall = time.monotonic() - started
            sizes = await key_sizes(redis, prefix)
        except BaseException:
            for service in SERVICES:
                print(f"--- {service} log (tail) ---\n{stack.logs(service)[-1500:]}", file=sys.stderr)
            raise
        finally:
            await redis.aclose()
            await asyncio.to_thread(stack.stop)
            server.stop()
    lags = [lag for row in samples for lag in row["lag_s"].values()]
    # Start and end: the first sample after the warm-up against the last, p95 over the windows around them.
    warm_up = max(WARM_UP_S, args.frames_max_age_s + STREAM_FILL_MARGIN_S)
    warm = next((row for row in samples if row["t_s"] >= warm_up), samples[0])
    edges = {"start": {**warm, "p95_ms": p95_ms(round_trips, started + warm_up, started + warm_up + P95_WINDOW_S)},
             "end": {**samples[-1], "p95_ms": p95_ms(round_trips, started + wall - P95_WINDOW_S, started + wall)}}
    return {"frames_sent": sent, "replies": dict(replies), "wall_s": round(wall, 1),
            "frames_per_s": round(sent / wall, 2), **edges,
            "max_used_memory_mb": max(row["used_memory_mb"] for row in samples),
            "max_aof_mb": max(row["aof_mb"] for row in samples),
            "max_frames_len": max(row["frames_len"] for row in samples),
            "max_lag_s": max(lags, default=0.0), "key_sizes": sizes, "samples": samples}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.soak_retention", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=17.0, help="frames a second, all sessions together")
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--estimators", type=int, default=1, help="estimator processes (vigil run: one per core)")
    parser.add_argument("--frames-per-session", type=int, default=60)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument("--frames-max-age-s", type=int, default=300,
                        help="bus.frames_max_age_s (a short run lowers it to see the bound hold)")
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models", type=Path, default=ROOT / "var" / "models", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "soak.json")
    args = parser.parse_args(argv)
    if not (0 < args.minutes <= 240 and 0 < args.rate <= 200 and 1 <= args.sessions <= 64):
        parser.error("--minutes in (0, 240], --rate in (0, 200], --sessions in [1, 64]")
    frames, sources = load_frames(args.media, 200)
    info = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
            "minutes": args.minutes, "rate": args.rate, "sessions": args.sessions, "sources": sources,
            "frames_max_age_s": args.frames_max_age_s,
            "mean_jpeg_kib": round(sum(map(len, frames)) / len(frames) / 1024, 1)}
    deadline = args.minutes * 60 + 180  # start-up, the last frames and the stop, bounded
    result = asyncio.run(asyncio.wait_for(soak(args, frames), deadline))
    document = {**info, **result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2))
    print(f"\n{args.minutes:g} min at {result['frames_per_s']} frames/s ({result['frames_sent']} frames, replies "
          f"{result['replies']}): "
          f"Redis used_memory max {result['max_used_memory_mb']} MB, AOF max {result['max_aof_mb']} MB, "
          f"frames stream max {result['max_frames_len']} entries, consumer lag max {result['max_lag_s']} s")
    for edge in ("start", "end"):
        row = result[edge]
        print(f"{edge:5s} (t {row['t_s']} s): reply p95 {row['p95_ms']} ms, RSS MB {row['rss_mb']}, frames stream "
              f"{row['frames_len']}, estimations {row['estimations_len']}, pending {row['pending']}")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
