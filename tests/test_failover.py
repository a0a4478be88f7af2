"""Redis Sentinel failover under load, with real servers: a master, a replica and three sentinels
(infra/redis_sentinel.py), the ingress, estimator and decider following the master through the
sentinels (shared/redis_connect.py), clients sending real frames. The master is SIGKILLed while
sessions are half done; the figures (seconds without answers, frames retried, sessions lost) are
what docs/deployment.md reports."""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient
from infra.redis_sentinel import SentinelCluster
from shared.errors import SystemCode
from shared.lpproto import Command
from tests import media
from tests.stack import Stack

CLIENTS = 3
FRAMES_PER_SESSION = 40  # ~4 s of frames at the pace below: the kill lands mid-session
FRAME_INTERVAL_S = 0.1
KILL_AFTER_S = 1.5
RETRY_PAUSE_S = 0.2  # what a page does after 1017 (docs/protocol.md): wait a little, send again
MAX_ANSWER_GAP_S = 10.0
# The ingress closes with these when a session is decided (services/ingress/replies.py CloseCode).
ENDED_CLOSE_CODES = {1000, 4000, 4002, 4003, 4004, 4005}  # the goal for answering again after the master dies


@dataclass
class Outcome:
    retried: int = 0  # frames (and CONNECTs) answered 1017, sent again after a pause
    reconnects: int = 0
    last_answer: float = 0.0
    first_answer_after_kill: float | None = None
    result: str | None = None  # SUCCESS, or the code of the ERROR that ended the session


async def run_session(url: str, frame: bytes, killed_at: list[float]) -> Outcome:
    """One person's session: a frame at a time; a retry code gets the frame again after a pause,
    a dropped socket a reconnect with the same session-id (the session resumes)."""
    outcome = Outcome()
    session_id: str | None = None
    while outcome.result is None:
        try:
            async with LPClient(url) as client:
                connected = await client.connect(session_id=session_id)
                if connected.command is Command.ERROR:
                    if connected.error_code != SystemCode.BUS_UNAVAILABLE:
                        outcome.result = f"ERROR {connected.error_code}"
                        break
                    outcome.retried += 1
                    await anyio.sleep(RETRY_PAUSE_S)
                    continue  # a new connection opens (or resumes) the session
                session_id = client.session_id
                while True:
                    reply = await client.frame(frame)
                    now = time.monotonic()
                    if reply.command is Command.ERROR and reply.error_code == SystemCode.BUS_UNAVAILABLE:
                        outcome.retried += 1
                        await anyio.sleep(RETRY_PAUSE_S)
                        continue
                    if killed_at and outcome.first_answer_after_kill is None:
                        outcome.first_answer_after_kill = now - killed_at[0]
                    outcome.last_answer = now
                    if reply.command is not Command.STATS:
                        outcome.result = reply.command if reply.error_code is None else f"ERROR {reply.error_code}"
                        break
                    await anyio.sleep(FRAME_INTERVAL_S)
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
            if code in ENDED_CLOSE_CODES:  # the session ended on a STATS (max attempts, ...): no resume
                outcome.result = f"closed {code}"
            else:
                outcome.reconnects += 1
                await anyio.sleep(RETRY_PAUSE_S)
        except OSError:  # the ingress did not take the connection
            outcome.reconnects += 1
            await anyio.sleep(RETRY_PAUSE_S)
    return outcome


@pytest.mark.slow
@pytest.mark.anyio
@pytest.mark.timeout(180)
async def test_a_killed_master_is_replaced_and_sessions_go_on(tmp_path: Path, data_dir: Path) -> None:
    cluster = SentinelCluster(tmp_path / "redis", password=secrets.token_urlsafe(24),
                              sentinel_password=secrets.token_urlsafe(24))
    cluster.start()
    stack = Stack(cluster.nodes[0].url, f"t{uuid.uuid4().hex[:12]}", tmp_path / "stack", cluster.environment(),
                  VIGIL_SESSION__AGGREGATE_FRAMES=str(FRAMES_PER_SESSION), VIGIL_SESSION__MAX_ATTEMPTS="200",
                  VIGIL_SESSION__MAX_LIVENESS_ATTEMPTS="200")
    frame = media.neutral_jpeg(data_dir)  # passes every check: only the failover can fail it
    killed_at: list[float] = []
    outcomes: list[Outcome] = []
    try:
        stack.start_all("ingress", "estimator", "decider")
        old_master = cluster.master_port()

        async def person() -> None:
            outcomes.append(await run_session(stack.ws_url, frame, killed_at))

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tasks:
                for _ in range(CLIENTS):
                    tasks.start_soon(person)
                await anyio.sleep(KILL_AFTER_S)
                cluster.kill_master()
                killed_at.append(time.monotonic())
        new_master = cluster.master_port()
    finally:
        stack.stop()
        cluster.stop()

    gaps = [o.first_answer_after_kill for o in outcomes if o.first_answer_after_kill is not None]
    retried = sum(o.retried for o in outcomes)
    print(f"failover: new master {new_master} (was {old_master}); answers again after {max(gaps):.2f} s "
          f"(per client {', '.join(f'{g:.2f}' for g in gaps)}); frames retried after 1017: {retried}; "
          f"reconnects {sum(o.reconnects for o in outcomes)}; sessions {[o.result for o in outcomes]}")
    assert new_master != old_master
    assert len(gaps) == CLIENTS
    assert max(gaps) <= MAX_ANSWER_GAP_S
    # Every session survives the failover and ends in a decision; none had to start again.
    assert [o.result for o in outcomes] == [Command.SUCCESS] * CLIENTS
    # Frames in flight at the kill, and those sent before the new master, got 1017 (retry), no other error.
    assert retried > 0

