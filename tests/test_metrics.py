"""Every process's /metrics scraped by the real Prometheus server (Debian's `prometheus`) while a
session runs through the real services on a real Redis; then Prometheus's HTTP API must show the
series with sensible values, the shipped alert rules loaded, and no session id in any label."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from infra.client import LPClient
from infra.redis_server import RedisServer, free_port
from shared.lpproto import Command
from tests import media
from tests.stack import ROOT, Stack

pytestmark = pytest.mark.slow
PROMETHEUS = "/usr/bin/prometheus"
SERVICES = ("ingress", "estimator", "decider", "plugins", "videobuilder")
FRAMES = 8  # at most; the session ends sooner (max_attempts 3) or its client leaves


@dataclass
class Monitored:
    stack: Stack
    prometheus: str  # its base URL
    ports: dict[str, int]  # each job's metrics port


def prometheus_config(ports: dict[str, int]) -> str:
    jobs = "".join(f"  - job_name: vigil-{name}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
                   for name, port in ports.items())
    return ("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {ROOT / 'infra' / 'monitoring' / 'rules.yml'}\nscrape_configs:\n{jobs}")


def api(base: str, path: str, **params: str) -> object:
    url = f"{base}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


def query(base: str, expr: str) -> list[dict[str, object]]:
    data = api(base, "query", query=expr)
    assert isinstance(data, dict)
    result: list[dict[str, object]] = data["result"]
    return result


def value(base: str, expr: str) -> float:
    result = query(base, expr)
    assert result, f"no series for {expr}"
    return float(result[0]["value"][1])  # type: ignore[index]


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def answers_200(url: str) -> Callable[[], bool]:
    return lambda: get_status(url) == 200


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.2)


@pytest.fixture(scope="module")
def monitored(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    folder = tmp_path_factory.mktemp("metrics")
    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", folder, VIGIL_SESSION__MAX_ATTEMPTS="3",
                  VIGIL_METRICS__SAMPLE_INTERVAL_S="0.5", VIGIL_ADMIN__PORT=str(free_port()))
    ports = {name: free_port() for name in (*SERVICES, "admin")}
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        for name in SERVICES:
            stack.env["VIGIL_METRICS__PORT"] = str(ports[name])  # each child copies the environment at start
            stack.start(name)
        stack.env["VIGIL_METRICS__PORT"] = str(ports["admin"])
        with (folder / "admin-0.log").open("wb") as log:
            stack.processes.append(("admin", subprocess.Popen([sys.executable, "-m", "admin"], env=stack.env,
                                                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)))
        (folder / "prometheus.yml").write_text(prometheus_config(ports))
        web = free_port()
        with (folder / "prometheus.log").open("wb") as log:
            prometheus = subprocess.Popen(
                [PROMETHEUS, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{web}"], stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{web}"
        stack.wait_ready(SERVICES)
        for name, port in ports.items():  # every process answers ready on its own port
            try:
                wait_for(answers_200(f"http://127.0.0.1:{port}/health/ready"), f"{name} not ready")
            except TimeoutError:
                raise TimeoutError(f"{name} not ready: {stack.logs(name)[-2000:]}") from None
        wait_for(lambda: get_status(f"{base}/-/ready") == 200, "prometheus not ready")
        wait_for(lambda: len(query(base, "up == 1")) == len(ports), "not every target up")
        yield Monitored(stack, base, ports)
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(10)
        stack.stop()


@pytest.mark.anyio
@pytest.mark.timeout(240)
async def test_prometheus_scrapes_every_process_during_a_session(monitored: Monitored, data_dir: Path) -> None:
    base, sent, ended = monitored.prometheus, 0, False
    async with LPClient(monitored.stack.ws_url) as client:
        connected = await client.connect()
        assert connected.command is Command.CONNECTED
        session_id = client.session_id
        assert session_id is not None
        image = media.face_jpeg(data_dir)
        while sent < FRAMES and not ended:
            try:
                await client.frame(image)
                sent += 1  # answered
            except ConnectionClosed:  # the session ended (max_attempts) with its last reply
                ended = True
    assert sent >= 3

    def counted() -> bool:
        found = query(base, "sum(vigil_sessions_ended_total)")
        return bool(found) and float(found[0]["value"][1]) >= 1  # type: ignore[index]

    wait_for(counted, "no session end counted", timeout=30)
    time.sleep(2.5)  # a few more scrapes and samples after the last frame
    assert value(base, "sum(vigil_frames_received_total)") >= sent
    assert value(base, "sum(vigil_replies_sent_total)") >= sent
    # Every frame is decoded; the detector runs on some (the mesh follows the face between).
    assert value(base, 'sum(vigil_estimator_stage_seconds_count{stage="decode"})') >= sent
    assert value(base, 'sum(vigil_estimator_stage_seconds_sum{stage="detect"})') > 0
    assert value(base, 'histogram_quantile(0.95, sum by (le) (vigil_reply_round_trip_seconds_bucket))') > 0
    assert value(base, 'vigil_consumer_entries_total{stream="frames",group="estimator",outcome="acked"}') >= sent
    assert value(base, 'vigil_consumer_entries_total{stream="estimations",group="decider",outcome="acked"}') >= sent
    assert value(base, 'max(vigil_stream_length{stream="frames"})') >= sent
    assert value(base, 'max(vigil_consumer_group_pending{stream="frames",group="estimator"})') >= 0
    assert value(base, 'max(vigil_stream_length{stream="dead:frames"})') == 0
    assert value(base, 'vigil_model_load_seconds{model="yunet"}') > 0
    outcomes = {row["metric"]["outcome"] for row in query(base, "vigil_sessions_ended_total > 0")}  # type: ignore[index]
    assert outcomes <= {"success", "failed", "disconnected"}
    if ended:  # by max_attempts: failed, closed with its code
        assert "failed" in outcomes
        assert value(base, 'sum(vigil_websocket_closes_total{code="4002"})') >= 1
    else:  # the client left: counted as disconnected when the ingress saw the socket go
        wait_for(lambda: bool(query(base, 'vigil_sessions_ended_total{outcome="disconnected"} > 0')), "no drop")
    ready = {row["metric"]["job"] for row in query(base, "vigil_ready == 1")}  # type: ignore[index]
    rss = {row["metric"]["job"] for row in query(base, "process_resident_memory_bytes > 20e6")}  # type: ignore[index]
    assert ready == rss == {f"vigil-{name}" for name in monitored.ports}
    # No label anywhere holds the session id (nor is named after a session).
    labels = api(base, "labels")
    assert isinstance(labels, list)
    assert not [name for name in labels if "session" in name]
    for row in query(base, '{__name__=~"vigil_.*"}'):
        assert session_id not in json.dumps(row["metric"])
    # The shipped alert rules loaded and evaluate without error.
    groups = api(base, "rules")
    assert isinstance(groups, dict)
    rules = [rule for group in groups["groups"] for rule in group["rules"]]
    assert len(rules) >= 4
    assert all(rule["health"] != "err" for rule in rules), rules
