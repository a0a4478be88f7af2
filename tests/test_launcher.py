"""`vigil run` as a real subprocess: embedded Redis, every service, restarts, clean stop, failures.

Each test runs its own launcher with an embedded redis-server on a free port and a private key
prefix. Waits poll observable state (the launcher's log, /health, pids) against deadlines.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

import anyio
import pytest
import redis as sync_redis

from infra.client import LPClient
from infra.launcher import MAX_DEFAULT_ESTIMATORS, Launcher
from infra.media import iter_frames
from infra.redis_server import free_port
from load.capacity.session import PacedSession, Tally
from shared.errors import SystemCode
from shared.keys import Keys
from shared.lpproto import Command
from shared.redis_url import embedded_password, embedded_url
from shared.settings import Env, Settings
from tests import media

ROOT = Path(__file__).resolve().parent.parent
FACE_PHOTO = Path("face_recognition_ageitgey") / "examples__obama-1080p.jpg"
SERVICES = ("ingress", "estimator", "decider", "plugins", "videobuilder", "admin")
T = TypeVar("T")

pytestmark = [pytest.mark.slow, pytest.mark.e2e]  # starts the launcher and its processes


def vigil_command() -> list[str]:
    script = Path(sys.executable).parent / "vigil"
    return [str(script)] if script.exists() else [sys.executable, "-m", "infra.cli"]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a running process (an exited zombie awaiting its reaper counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def poll(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.05) -> T:
    """``probe()`` until it returns something other than None/False, or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Launched:
    """One `vigil run` subprocess, its output captured to a file."""

    def __init__(self, tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.log_path = tmp_path / "launcher.log"
        self.redis_port = int(env["VIGIL_REDIS__EMBEDDED_PORT"])
        self.ingress_port = int(env["VIGIL_INGRESS__PORT"])
        self.prefix = env["VIGIL_REDIS__KEY_PREFIX"]
        self.redis_pid: int | None = None
        self._log_file: IO[bytes] = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*vigil_command(), "run", "--var", str(tmp_path / "var"), *args],
            cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
        )

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ingress_port}/ws"

    @property
    def redis_url(self) -> str:
        """The embedded Redis with the password the launcher generated under its --var folder."""
        return embedded_url(self.redis_port, embedded_password(self.tmp_path / "var"))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _check_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"launcher exited {self.process.returncode}:\n{self.log()[-3000:]}")

    def wait_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        regex = re.compile(pattern, re.MULTILINE)

        def probe() -> re.Match[str] | None:
            match = regex.search(self.log())
            if match is None:
                self._check_running()
            return match

        return poll(f"log line /{pattern}/", probe, timeout)

    def pids(self, service: str) -> list[int]:
        return [int(pid) for pid in re.findall(rf"started {re.escape(service)} \(pid (\d+)\)", self.log())]

    def all_pids(self) -> list[int]:
        return [int(pid) for pid in re.findall(r"started [\w-]+ \(pid (\d+)\)", self.log())]

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ingress_port}/health", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_ready(self, timeout: float = 45.0) -> None:
        """Every service started, /health answers 200, the consumers have registered in Redis."""
        for service in SERVICES:
            self.wait_log(rf"started {service} \(pid \d+\)", timeout)

        def health() -> bool:
            self._check_running()
            return self.healthy()

        poll("GET /health == 200", health, timeout)
        client = sync_redis.Redis.from_url(self.redis_url)
        try:
            info: dict[str, object] = client.info("server")  # type: ignore[assignment]
            self.redis_pid = int(str(info["process_id"]))
            keys = Keys(self.prefix)
            poll("estimator consumer registered", lambda: self._registered(client, keys.frames, "estimator"), timeout)
            poll("decider consumer registered", lambda: self._registered(client, keys.estimations, "decider"), timeout)
        finally:
            client.close()

    def _registered(self, client: sync_redis.Redis, stream: str, group: str) -> bool:
        """The group exists and a consumer has read from it (first XREADGROUP registers it)."""
        self._check_running()
        try:
            consumers = client.xinfo_consumers(stream, group)
        except sync_redis.ResponseError:
            return False
        return bool(consumers)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout)

    def cleanup(self) -> None:
        """Whatever happened, leave no process behind."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.stop(timeout=20)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in [*self.all_pids(), *([self.redis_pid] if self.redis_pid else [])]:
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._log_file.close()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Launched]]:
    started: list[Launched] = []

    def start(*args: str, **overrides: str) -> Launched:
        prefix = f"t{uuid.uuid4().hex[:12]}"
        env = {
            # No VIGIL_* from the outside (e.g. VIGIL_TEST_DATA): unknown settings are refused.
            **{k: v for k, v in os.environ.items() if not k.upper().startswith("VIGIL_")},
            "VIGIL_ENV": "development",
            "VIGIL_REDIS__EMBEDDED_PORT": str(free_port()),
            "VIGIL_REDIS__KEY_PREFIX": prefix,
            "VIGIL_INGRESS__PORT": str(free_port()),
            "VIGIL_ADMIN__PORT": str(free_port()),
            "VIGIL_ESTIMATOR__MODELS_DIR": str(ROOT / "var" / "models"),
            "VIGIL_VIDEO__STORAGE": str(tmp_path / "videos"),
            "VIGIL_FILE_LOGGER__PATH": str(tmp_path / "sessions"),
            "VIGIL_BUS__BLOCK_MS": "200",
            "VIGIL_JWT__KEY_FILE": str(tmp_path / "jwt.key"),
            "PYTHONUNBUFFERED": "1",
            **overrides,
        }
        env = {k: v for k, v in env.items() if v != ""}  # an override of "" removes the variable
        # One estimator whatever the machine's cores (the default is one per core), so the
        # tests can name it; a --scale in args comes later and wins.
        launched = Launched(tmp_path, ["--scale", "estimator=1", *args], env)
        started.append(launched)
        return launched

    yield start
    for launched in started:
        launched.cleanup()


async def send_face(url: str, data_dir: Path) -> dict[str, object]:
    frame = next(iter_frames(data_dir / FACE_PHOTO, max_side=1280))
    async with LPClient(url) as client:
        connected = await client.connect()
        assert connected.command is Command.CONNECTED, connected.message.headers
        reply = await client.frame(frame)
    assert reply.command is Command.STATS, (reply.command, reply.message.headers)
    estimations = reply.stats()["estimations"]
    assert isinstance(estimations, dict)
    return estimations


@pytest.mark.anyio
async def test_run_starts_redis_and_every_service(launch: Callable[..., Launched], data_dir: Path) -> None:
    launched = launch()
    launched.wait_ready()
    log = launched.log()
    assert "embedded redis-server at redis://:***@127.0.0.1:" in log  # its password masked
    for service in SERVICES:
        assert len(launched.pids(service)) == 1, log

    estimations = await send_face(launched.ws_url, data_dir)
    assert estimations["faceCount"] == 1
    assert "faceFramePosition" in estimations

    # Children's lines come back prefixed with their process's name.
    launched.wait_log(r"^\[estimator\] .*loaded on ", timeout=5)
    launched.wait_log(r"^\[ingress\] .*Running on ", timeout=5)
    assert launched.stop() == 0


@pytest.mark.anyio
async def test_killed_worker_is_restarted(launch: Callable[..., Launched], data_dir: Path) -> None:
    launched = launch()
    launched.wait_ready()
    [old] = launched.pids("estimator")
    os.kill(old, signal.SIGKILL)

    launched.wait_log(r"estimator exited -9; restarting")
    launched.wait_log(r"(started estimator \(pid \d+\)[\s\S]*){2}")
    [first, new] = launched.pids("estimator")
    assert first == old
    assert new != old
    assert not pid_alive(old)
    # Sent without waiting for the new estimator: the frame waits in the stream until it reads.
    estimations = await send_face(launched.ws_url, data_dir)
    assert "faceFramePosition" in estimations
    assert pid_alive(new)
    assert launched.stop() == 0


@pytest.mark.anyio
async def test_each_worker_kind_killed_under_load_loses_no_frame(
    launch: Callable[..., Launched], data_dir: Path,
) -> None:
    """SIGKILL of the estimator, then the decider, then the plugins while three paced sessions send
    real frames (the load generator of load/capacity): every frame is answered, none with an error;
    the pending ones are claimed again once the restarted worker reads (bus.claim_idle_ms)."""
    launched = launch()
    launched.wait_ready()
    frames = [media.face_jpeg(data_dir), media.neutral_jpeg(data_dir)]
    tally, stop = Tally(), asyncio.Event()
    load = [asyncio.create_task(PacedSession(launched.ws_url, frames, k, 4.0, tally).run(stop)) for k in range(3)]
    try:
        for service in ("estimator", "decider", "plugins"):
            await asyncio.sleep(3)
            before = launched.pids(service)
            os.kill(before[-1], signal.SIGKILL)
            deadline = time.monotonic() + 30
            while len(launched.pids(service)) == len(before):
                assert time.monotonic() < deadline, f"{service} not restarted"
                await asyncio.sleep(0.1)
        await asyncio.sleep(8)  # the last restarted worker catches up
    finally:
        stop.set()
        await asyncio.gather(*load)
    answered = sum(tally.replies.values())
    errors = {kind: n for kind, n in tally.replies.items() if kind.startswith("ERROR")}
    print(f"3 workers SIGKILLed under 3 sessions at 4 frames/s: {answered} frames answered, errors {errors}, "
          f"slowest reply {max(s for _, s in tally.round_trips):.1f} s, failures {dict(tally.failures)}")
    assert answered > 60
    assert not errors
    assert not tally.failures  # no frame went unanswered (30 s) and no transport failed
    assert launched.stop() == 0


@pytest.mark.anyio
async def test_a_killed_embedded_redis_is_restarted_and_the_session_goes_on(
    launch: Callable[..., Launched], data_dir: Path,
) -> None:
    # A frame in flight when Redis dies is answered ERROR after reply_timeout_s: short here.
    launched = launch(VIGIL_INGRESS__REPLY_TIMEOUT_S="3")
    launched.wait_ready()
    first = launched.redis_pid
    assert first is not None
    frame = media.face_jpeg(data_dir)
    async with LPClient(launched.ws_url) as client:
        assert (await client.connect()).command is Command.CONNECTED
        assert (await client.frame(frame)).command is Command.STATS
        os.kill(first, signal.SIGKILL)
        killed, errors = time.monotonic(), 0
        with anyio.fail_after(60):
            while (reply := await client.frame(frame)).command is not Command.STATS:
                assert reply.error_code in (SystemCode.BUS_UNAVAILABLE, SystemCode.PROCESSING_TIMEOUT), reply.message
                errors += 1
                await anyio.sleep(0.2)
        gap = time.monotonic() - killed
    launched.wait_log(r"embedded redis-server back after", timeout=10)  # logged once start() returned
    log = launched.log()
    assert "embedded redis-server exited" in log, log
    print(f"embedded Redis SIGKILLed: answered again after {gap:.1f} s, {errors} frames answered ERROR meanwhile")
    assert gap < 30
    assert launched.stop() == 0


def test_sigint_stops_every_child_and_redis(launch: Callable[..., Launched]) -> None:
    launched = launch()
    launched.wait_ready()
    children = launched.all_pids()
    assert len(children) == len(SERVICES)
    assert launched.redis_pid is not None
    assert pid_alive(launched.redis_pid)
    assert all(pid_alive(pid) for pid in children)

    began = time.monotonic()
    assert launched.stop(signal.SIGINT, timeout=15) == 0
    assert time.monotonic() - began < 15
    gone = [*children, launched.redis_pid]
    poll("children and redis-server gone", lambda: not any(pid_alive(pid) for pid in gone), 5)
    assert "all processes stopped" in launched.log()
    password = embedded_password(launched.tmp_path / "var")
    assert password is not None
    assert password not in launched.log()  # the children get it in their environment, never the log


def test_crashing_worker_exhausts_restart_budget(launch: Callable[..., Launched], tmp_path: Path) -> None:
    empty = tmp_path / "no-models"
    empty.mkdir()
    launched = launch(VIGIL_ESTIMATOR__MODELS_DIR=str(empty))
    code = launched.process.wait(60)
    log = launched.log()
    assert code != 0, log
    assert "restart budget" in log, log
    assert len(launched.pids("estimator")) > 1
    assert "all processes stopped" in log
    # The healthy services went down with it.
    poll("every child gone", lambda: not any(pid_alive(pid) for pid in launched.all_pids()), 5)


def test_production_without_jwt_key_refuses_to_start(launch: Callable[..., Launched]) -> None:
    launched = launch(VIGIL_ENV="production", VIGIL_JWT__KEY="")
    code = launched.process.wait(30)
    log = launched.log()
    assert code == 2, log
    assert "VIGIL_JWT__KEY" in log
    assert "started " not in log


@pytest.mark.parametrize(("cores", "scale", "estimators"), [
    ({0}, {}, ["estimator"]),
    ({0, 1}, {}, ["estimator-1", "estimator-2"]),
    (set(range(16)), {}, [f"estimator-{i}" for i in range(1, MAX_DEFAULT_ESTIMATORS + 1)]),
    ({0, 1}, {"estimator": 1}, ["estimator"]),
])
def test_one_estimator_per_core_unless_scaled(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cores: set[int],
                                              scale: dict[str, int], estimators: list[str]) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: cores)
    launcher = Launcher(Settings(env=Env.DEVELOPMENT), scale=scale, var_dir=tmp_path)
    assert [w.name for w in launcher.workers if w.name.startswith("estimator")] == estimators
    assert [w.name for w in launcher.workers if w.name.startswith("decider")] == ["decider"]
