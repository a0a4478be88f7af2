"""`vigil run` started as a user starts it, in a private folder on free ports, and its processes.

Only what must not collide with a Vigil already running on this machine is changed: the ports,
the var folder (embedded Redis, secrets) and where videos and session logs are written. Everything
else is `vigil run`'s defaults, unless the caller passes overrides (e.g. the overload budget).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from infra.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180.0  # models load and warm up in every worker on two cores
STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Process:
    pid: int
    role: str  # ingress, estimator, ..., redis-server, launcher


class VigilRun:
    def __init__(self, folder: Path, scale: tuple[str, ...] = (), **overrides: str) -> None:
        self.folder, self.scale = folder, scale
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")},
            "VIGIL_ENV": "development",
            "VIGIL_INGRESS__PORT": str(self.port),
            "VIGIL_ADMIN__PORT": str(free_port()),
            "VIGIL_REDIS__EMBEDDED_PORT": str(free_port()),
            "VIGIL_VIDEO__STORAGE": str(folder / "videos"),
            "VIGIL_FILE_LOGGER__PATH": str(folder / "sessions"),
            "VIGIL_ESTIMATOR__MODELS_DIR": str(ROOT / "var" / "models"),
            # Every simulated person comes from this machine's one address (and fails on purpose).
            "VIGIL_ABUSE__IS_ENABLED": "false",
            **overrides,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = folder / "vigil-run.log"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "infra.cli", "run", "--var", str(self.folder / "var"),
                 *(f"--scale={item}" for item in self.scale)],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"vigil run exited {self.process.returncode}:\n{self.log_tail()}")
            if self._healthy() and "plugins" in {p.role for p in self.processes()}:
                return
            time.sleep(0.5)
        raise RuntimeError(f"vigil run not healthy after {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def processes(self) -> list[Process]:
        """The launcher and every process under it, each with its role."""
        if self.process is None:
            return []
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            found.append(Process(pid, role_of(pid)))
            queue += children(pid)
        return found

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:  # the process ended while we looked
            continue
    return found


def role_of(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    words = [a.decode(errors="replace") for a in argv if a]
    # redis-server rewrites its title to one string, "redis-server HOST:PORT".
    if words and Path(words[0].split()[0]).name == "redis-server":
        return "redis-server"
    if "-m" in words and words.index("-m") + 1 < len(words):
        module = words[words.index("-m") + 1]
        return "launcher" if module == "infra.cli" else module.removeprefix("services.")
    return Path(words[0]).name if words else "unknown"
