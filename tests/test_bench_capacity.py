"""The capacity load generator's parts (load/capacity/): CPU attribution from /proc, the summary
and its plot, and one short level of paced sessions against real services."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.redis_server import RedisServer
from load.bench_capacity import level
from load.capacity.cpu import CpuMeter, cpu_seconds
from load.capacity.report import svg, table
from load.capacity.target import Process, role_of
from tests import media
from tests.stack import Stack

pytestmark = pytest.mark.e2e  # starts the services and measures them


def test_cpu_is_attributed_to_the_process_that_spent_it() -> None:
    spin = "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"
    busy = subprocess.Popen([sys.executable, "-c", spin])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    try:
        processes = [Process(busy.pid, "busy"), Process(idle.pid, "idle")]
        meter = CpuMeter()
        meter.begin(processes)
        time.sleep(1.0)
        spent, share = meter.end(processes)
    finally:
        busy.wait()
        idle.wait()
    assert spent["busy"] > 0.5
    assert spent["idle"] < 0.1
    assert 0 < share <= 1
    assert cpu_seconds(busy.pid) is None  # gone: not counted, no crash
    assert role_of(busy.pid) == "gone"


@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path_factory.mktemp("stack"))
    running.start_all()
    yield running
    running.stop()


@pytest.mark.anyio
async def test_one_level_of_paced_sessions_is_measured_tabled_and_plotted(stack: Stack, data_dir: Path) -> None:
    clips = [[media.face_jpeg(data_dir), media.neutral_jpeg(data_dir)]]
    processes = [Process(p.pid, name) for name, p in stack.processes]
    result = await level(stack.ws_url, clips, sessions=2, fps=4.0, warm_up_s=1.0, window_s=3.0,
                         processes=processes)
    # Two sessions at 4 frames/s for 3 s: about 24 frames, each answered, no error.
    assert 12 <= result.frames <= 30
    assert result.errors == 0
    # A photo passes quickly (active liveness is off in this stack): a new session follows each SUCCESS.
    assert result.admitted >= 2
    assert set(result.replies) <= {"STATS", "SUCCESS"}
    assert result.closes.get("1000", 0) == result.replies.get("SUCCESS", 0)
    assert 0 < result.p50_ms <= result.p95_ms <= result.p99_ms
    assert set(result.cpu_ms_per_frame) == {"ingress", "estimator", "decider"}
    assert result.cpu_ms_per_frame["estimator"] > 0
    text = table([result])
    assert f"{'2':>8}" in text.splitlines()[2]
    plot = ET.fromstring(svg([result, result], "capacity"))
    assert plot.tag.endswith("svg")
    assert len(plot.findall("{http://www.w3.org/2000/svg}polyline")) == 5
