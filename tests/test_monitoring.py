"""The monitoring contract without the stack: readiness follows Redis and model loading, metric
names follow Prometheus's conventions, no unbounded label, the shipped rules and dashboard name
only metrics that exist, the launcher's ports are distinct, JSON logs parse."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.launcher import Launcher
from infra.redis_server import RedisServer, free_port
from shared.endpoint import start_endpoint
from shared.health import Health
from shared.keys import Keys
from shared.logs import JsonFormatter
from shared.metrics import REDIS_RECONNECTS, REGISTRY, observe_stages
from shared.monitor import monitor
from shared.redis_connect import VigilRedis
from shared.settings import Env, MetricsSettings, Settings

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "infra" / "monitoring"
# Every label a Vigil metric may carry: each takes a bounded set of values (shared/metrics.py).
BOUNDED_LABELS = {"stage", "stream", "group", "outcome", "kind", "code", "component", "model", "service"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "gauge": ("",), "info": ("_info",), "summary": ("", "_sum", "_count", "_created")}


def defined_names() -> set[str]:
    """Every sample name /metrics can show, whether or not a labelled child exists yet."""
    return {family.name + suffix for family in REGISTRY.collect() for suffix in SUFFIXES[family.type]}


async def get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body.decode()


@pytest.mark.e2e  # starts, stops and restarts a redis-server of its own
@pytest.mark.anyio
@pytest.mark.timeout(60)
async def test_readiness_is_503_while_redis_is_down_and_200_when_it_is_back(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", persist=False)
    server.start()
    health, port = Health("test"), free_port()
    health.mark_started()
    endpoint = await start_endpoint(MetricsSettings(port=port), health)
    assert endpoint is not None
    redis = VigilRedis.from_url(server.url, socket_connect_timeout=1)
    reconnects = REDIS_RECONNECTS._value.get()

    async def until(status: int) -> dict[str, str]:
        with anyio.fail_after(15):
            while True:
                code, body = await get(port, "/health/ready")
                if code == status:
                    answer: dict[str, str] = json.loads(body)
                    return answer
                await anyio.sleep(0.05)

    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(monitor, redis, Keys("t"), [], 0.1, health)
            assert (await until(200)) == {"status": "ready", "service": "test", "reason": "ready"}
            server.stop()
            down = await until(503)
            assert down["status"] == "not_ready"
            assert down["reason"].startswith("redis unreachable")
            assert (await get(port, "/health/live"))[0] == 200  # the loop runs: live, only not ready
            server.start()
            await until(200)
            tasks.cancel_scope.cancel()
    finally:
        endpoint.close()
        await endpoint.wait_closed()
        await redis.aclose()
        server.stop()
    assert REDIS_RECONNECTS._value.get() == reconnects + 1


@pytest.mark.anyio
@pytest.mark.timeout(30)
async def test_not_ready_while_models_load_and_metrics_parse() -> None:
    health, port = Health("estimator"), free_port()
    endpoint = await start_endpoint(MetricsSettings(port=port), health)
    assert endpoint is not None
    try:
        assert json.loads((await get(port, "/health/ready"))[1])["reason"] == "starting"
        with health.loading_("models"):
            code, body = await get(port, "/health/ready")
            assert (code, json.loads(body)["reason"]) == (503, "loading models")
        observe_stages({"detect": 12.5, "not-a-stage": 1.0})
        code, text = await get(port, "/metrics")
        assert code == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}
        detect = [s for s in families["vigil_estimator_stage_seconds"].samples
                  if s.name.endswith("_count") and s.labels.get("stage") == "detect"]
        assert detect[0].value >= 1
        assert not [s for f in families.values() for s in f.samples if s.labels.get("stage") == "not-a-stage"]
        assert families["process_resident_memory_bytes"].samples[0].value > 0
        assert (await get(port, "/nothing"))[0] == 404
    finally:
        endpoint.close()
        await endpoint.wait_closed()


def test_metric_names_and_labels_follow_prometheus_conventions() -> None:
    families = [f for f in REGISTRY.collect() if f.name.startswith("vigil_")]
    assert len(families) >= 15
    for family in families:
        assert re.fullmatch(r"vigil_[a-z][a-z0-9_]*[a-z0-9]", family.name), family.name
        if family.type == "histogram":
            assert family.name.endswith(("_seconds", "_bytes")), family.name
        if family.type == "gauge":
            assert not family.name.endswith("_total"), family.name
        assert family.documentation, family.name
    labels = {name for metric in REGISTRY._names_to_collectors.values()
              for name in getattr(metric, "_labelnames", ())}
    assert labels <= BOUNDED_LABELS, labels - BOUNDED_LABELS
    assert not {n for n in labels if "session" in n or "id" in n.split("_")}


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b((?:vigil|process)_[a-z0-9_]+)", expr))


def test_rules_and_dashboard_name_only_defined_metrics() -> None:
    defined = defined_names()
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    rules = (MONITORING / "rules.yml").read_text()
    assert rules.count("- alert:") >= 4
    assert metric_names("rate(vigil_no_such_metric_total[1m])") - defined  # the check can fail
    for expr in [*exprs, rules]:
        assert metric_names(expr) <= defined, metric_names(expr) - defined
    named = set().union(*map(metric_names, exprs))
    assert {"vigil_estimator_stage_seconds_bucket", "vigil_reply_round_trip_seconds_bucket",
            "vigil_sessions_ended_total", "vigil_consumer_group_lag", "process_resident_memory_bytes"} <= named


@pytest.mark.timeout(60)
def test_promtool_accepts_the_rules_and_the_example_config() -> None:
    for args in (["check", "rules", "rules.yml"], ["check", "config", "prometheus.yml"]):
        done = subprocess.run(["promtool", *args], cwd=MONITORING, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stdout + done.stderr


def test_launcher_gives_each_process_its_own_port(tmp_path: Path) -> None:
    launcher = Launcher(Settings(env=Env.DEVELOPMENT, metrics={"launcher_first_port": 9600}),
                        scale={"estimator": 3}, var_dir=tmp_path)
    ports = [w.metrics_port for w in launcher.workers]
    assert ports == list(range(9600, 9600 + len(launcher.workers)))
    assert [w.name for w in launcher.workers][:4] == ["ingress", "estimator-1", "estimator-2", "estimator-3"]
    off = Launcher(Settings(env=Env.DEVELOPMENT, metrics={"launcher_first_port": 0}), scale={}, var_dir=tmp_path)
    assert {w.metrics_port for w in off.workers} == {0}


def test_json_log_lines_parse() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("vigil.x", logging.ERROR, __file__, 1, "failed %s", ("frame",), sys.exc_info())
    entry = json.loads(JsonFormatter("estimator").format(record))
    assert (entry["message"], entry["level"], entry["process"]) == ("failed frame", "ERROR", "estimator")
    assert "ValueError: boom" in entry["exception"]
