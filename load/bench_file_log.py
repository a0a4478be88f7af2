"""What the FileLogger's stage-5 ordering adds to a frame's round trip, measured in one run.

Three deployments on one private redis-server (own key prefixes), all running at once so they
share the machine alike: the FileLogger off (no plugins service); the logger on without the
ordering (``file_logger.wait_ms=0``, the behaviour before it); the logger on with the ordering
(the default wait). Stage-3 plugins are off in all three, so the plugins service runs only the
logger. Real frames (bench_roundtrip's two genuine videos, 640x480 JPEG q90) go to the three in
turn, a block at a time, one session each, each frame after the previous reply (as LPProto
requires); a session that passes is replaced. Prints p50/p95 per deployment and writes
``var/bench/file_log.json``.

    python -m load.bench_file_log [--frames 120] [--block 10] [--media ../shared/data]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from infra.eval.stack import Stack
from infra.redis_server import RedisServer
from load.bench_roundtrip import ROOT, Sender, Summary, load_frames, machine, print_table, summarize

DEPLOYMENTS = {
    "file logger off": ({"VIGIL_FILE_LOGGER__IS_ENABLED": "false"}, ("ingress", "estimator", "decider")),
    "file logger on, no ordering (wait_ms=0)": (
        {"VIGIL_FILE_LOGGER__IS_ENABLED": "true", "VIGIL_FILE_LOGGER__WAIT_MS": "0"},
        ("ingress", "estimator", "decider", "plugins")),
    "file logger on, ordering (default wait)": (
        {"VIGIL_FILE_LOGGER__IS_ENABLED": "true"}, ("ingress", "estimator", "decider", "plugins")),
}


async def measure(stacks: dict[str, Stack], frames: list[bytes], block: int) -> list[Summary]:
    senders = {label: Sender(stack.ws_url) for label, stack in stacks.items()}
    times: dict[str, list[float]] = {label: [] for label in stacks}
    try:
        for sender in senders.values():  # warm-up: first frames load lazily initialised state
            for frame in frames[:3]:
                await sender.send(frame)
        for start in range(0, len(frames), block):
            for label, sender in senders.items():
                for frame in frames[start:start + block]:
                    elapsed, _ = await sender.send(frame)
                    times[label].append(elapsed)
    finally:
        await asyncio.gather(*(s.close() for s in senders.values()), return_exceptions=True)
    return [summarize(label, times[label], sum(times[label]), sessions_opened=senders[label].sessions)
            for label in stacks]


async def run(args: argparse.Namespace, frames: list[bytes]) -> list[Summary]:
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        redis = RedisServer(Path(tmp) / "redis", persist=False)
        redis.start()
        stacks: dict[str, Stack] = {}
        try:
            for n, (label, (env, services)) in enumerate(DEPLOYMENTS.items()):
                stack = Stack(redis.url, f"bench{uuid.uuid4().hex[:8]}", Path(tmp) / f"stack{n}",
                              VIGIL_ESTIMATOR__MODELS_DIR=str(args.models.resolve()),
                              VIGIL_SESSION__MAX_ATTEMPTS="1000000", VIGIL_SESSION__MAX_LIVENESS_ATTEMPTS="1000000",
                              **env)
                stacks[label] = stack
                await asyncio.to_thread(stack.start_all, *services)
            return await measure(stacks, frames, args.block)
        finally:
            for stack in stacks.values():
                await asyncio.to_thread(stack.stop)
            redis.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.bench_file_log", description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=120, help="frames per deployment (default 120)")
    parser.add_argument("--block", type=int, default=10, help="frames sent to one deployment in a row")
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models", type=Path, default=ROOT / "var" / "models", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "file_log.json")
    args = parser.parse_args(argv)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    frames, sources = load_frames(args.media, args.frames)
    rows = asyncio.run(asyncio.wait_for(run(args, frames), 900))
    info = {"started_at": started_at, "machine": machine(),
            "media": {"sources": sources, "mean_jpeg_kib": sum(map(len, frames)) / len(frames) / 1024}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**info, "rows": [asdict(r) for r in rows]}, indent=2))
    print_table(info, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
