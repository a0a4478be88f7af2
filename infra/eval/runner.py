"""Runs the plan's sessions through the real pipeline: a private redis-server, the services as
processes (one stack per deployment), the LPProto client; returns one result per session."""

from __future__ import annotations

import json
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from infra.client import LPClient
from infra.eval.media import Media
from infra.eval.plan import Kind, Trial
from infra.eval.puppets import Transcript, play
from infra.eval.stack import Stack
from infra.redis_server import RedisServer
from shared.lpproto import Command
from shared.settings import Interaction

SERVICES = ("ingress", "estimator", "decider", "plugins")
CONCURRENT = 4  # time-bound attacks played at once (puppets always run alone)
KEY = "vigil-eval-signing-key-" + "e" * 32
# The fixed configuration: defaults, with an action list the annotated person can perform and
# the limits that would end a session by counting frames lifted (the challenge decides).
CONFIGURATION = {
    "VIGIL_JWT__KEY": KEY,
    "VIGIL_ACTIVE_LIVENESS__IS_ENABLED": "true",
    # The light challenge has its own evaluation (`vigil eval light`): these kinds are judged without it.
    "VIGIL_LIGHT_CHALLENGE__IS_ENABLED": "false",
    "VIGIL_FILE_LOGGER__IS_ENABLED": "false",
    "VIGIL_SESSION__MAX_ATTEMPTS": "1000",
    "VIGIL_SESSION__MAX_LIVENESS_ATTEMPTS": "1000",
}


@dataclass
class SessionResult:
    kind: Kind
    media: str
    outcome: str  # "pass", "refused" (the server ended it) or "no decision" (bound reached)
    frames: int
    seconds: float
    codes: list[int]  # the last answer's codes
    close: int | None  # the WebSocket close code when the server ended the session
    prompts: list[str]
    liveness: list[float] = field(default_factory=list)  # the passive score of each frame

    @property
    def deciding(self) -> str:
        """What ended or blocked the session: the close code and the last answer's codes."""
        if self.outcome == "pass":
            return "SUCCESS"
        ended = f"closed {self.close}" if self.close is not None else "bound reached"
        return f"{ended}; codes {self.codes}"


def result_of(trial: Trial, transcript: Transcript) -> SessionResult:
    steps = transcript.steps
    last = steps[-1] if steps else None
    if transcript.succeeded:
        outcome = "pass"
    elif transcript.closed is not None or (last is not None and last.command is Command.ERROR):
        outcome = "refused"
    else:
        outcome = "no decision"
    return SessionResult(
        kind=trial.kind, media=trial.media, outcome=outcome, frames=len(steps),
        seconds=round(last.elapsed_s, 3) if last else 0.0, codes=list(last.codes) if last else [],
        close=transcript.closed, prompts=[p.value for p in transcript.prompts()],
        liveness=[s.liveness for s in steps if s.liveness is not None])


Progress = Callable[[int, int, SessionResult], None]


def progress_bar(done: int, total: int, result: SessionResult) -> None:
    width = 30
    filled = round(width * done / total)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                     f"{result.kind.value:<13} {result.outcome:<11}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def _session(stack: Stack, media: Media, trial: Trial) -> SessionResult:
    performer = trial.make(media)
    async with LPClient(stack.ws_url) as client:
        await client.connect()
        transcript = await play(client, performer, max_frames=trial.max_frames)
    return result_of(trial, transcript)


async def run_deployment(stack: Stack, media: Media, plan: list[Trial], report: Callable[[SessionResult], None],
                         ) -> None:
    for trial in (t for t in plan if t.puppet):
        report(await _session(stack, media, trial))
    limit = anyio.Semaphore(CONCURRENT)

    async def one(trial: Trial) -> None:
        async with limit:
            report(await _session(stack, media, trial))

    async with anyio.create_task_group() as tasks:
        for trial in (t for t in plan if not t.puppet):
            tasks.start_soon(one, trial)


def start_stack(redis: RedisServer, log_dir: Path, actions: tuple[Interaction, ...],
                configuration: dict[str, str] | None = None) -> Stack:
    """The services with active liveness asking ``actions``, under ``configuration`` (default: the
    evaluation's fixed one), on a private key prefix; stopped again if any fails to start."""
    stack = Stack(redis.url, f"eval{uuid.uuid4().hex[:8]}", log_dir,
                  VIGIL_ACTIVE_LIVENESS__INTERACTION_LIST=json.dumps([a.value for a in actions]),
                  **(CONFIGURATION if configuration is None else configuration))
    try:
        stack.start_all(*SERVICES)
    except BaseException:
        stack.stop()
        raise
    return stack


def run_plan(media: Media, plan: list[Trial], work: Path | None = None,
             progress: Progress = progress_bar) -> list[SessionResult]:
    """Every trial of ``plan``, grouped by deployment; a private Redis for the whole run."""
    results: list[SessionResult] = []

    def report(result: SessionResult) -> None:
        results.append(result)
        progress(len(results), len(plan), result)

    with tempfile.TemporaryDirectory(prefix="vigil-eval-") as scratch:
        root = work or Path(scratch)
        redis = RedisServer(root / "redis", persist=False)
        redis.start()
        try:
            for actions in dict.fromkeys(t.actions for t in plan):
                group = [t for t in plan if t.actions == actions]
                for trial in group:  # decode the media before the clock of any session starts
                    trial.make(media)
                stack = start_stack(redis, root / f"stack-{len(results)}", actions)
                try:
                    anyio.run(run_deployment, stack, media, group, report)
                finally:
                    stack.stop()
        finally:
            redis.stop()
    return results
