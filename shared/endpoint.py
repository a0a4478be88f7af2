"""The process's monitoring endpoint: ``/metrics`` (Prometheus text format), ``/health/live`` and
``/health/ready`` (JSON with a reason; 200 or 503), on ``metrics.host:metrics.port``.

asyncio's own server rather than prometheus-client's ``start_http_server``: that one answers from
a thread, so it would report "live" while the event loop is stuck; this one answers only while the
loop runs, which is what liveness means here. The ingress and the admin panel use it too, on a
port of their own rather than their public app: the metrics stay off the address nginx forwards,
and every process is scraped and probed the same way. It speaks just enough HTTP/1.1 for
Prometheus and orchestrators: GET, one request per connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.health import HEALTH, Health
from shared.metrics import REGISTRY
from shared.settings import MetricsSettings

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8192  # a request line and a few headers; Prometheus sends ~300 bytes
READ_TIMEOUT_S = 5.0  # a client that sends nothing does not hold a connection open
JSON = "application/json"
REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}

Answer = tuple[int, str, bytes]


def answer(method: str, path: str, health: Health) -> Answer:
    if method != "GET":
        return 405, JSON, b'{"error": "GET only"}'
    if path == "/metrics":
        return 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
    if path == "/health/live":
        return 200, JSON, json.dumps({"status": "live", "service": health.service}).encode()
    if path == "/health/ready":
        ready, reason = health.readiness()
        body = {"status": "ready" if ready else "not_ready", "service": health.service, "reason": reason}
        return (200 if ready else 503), JSON, json.dumps(body).encode()
    return 404, JSON, b'{"error": "not found"}'


async def _serve_one(health: Health, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            return
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        method, target = parts[0], parts[1] if len(parts) > 1 else ""
        status, content_type, body = answer(method, target.split("?", 1)[0], health)
        writer.write(
            f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n".encode()
            + body)
        await writer.drain()
    except ConnectionError as exc:  # the prober went away mid-answer: nothing to tell it
        log.debug("endpoint client gone: %s", exc)
    finally:
        writer.close()


async def start_endpoint(settings: MetricsSettings, health: Health = HEALTH) -> asyncio.Server | None:
    """The server, listening; None when disabled (port 0 or null) or when the port is taken: the
    service still does its work, and the scraper shows the target down (logged as an error here)."""
    if not settings.port:
        return None
    try:
        server = await asyncio.start_server(lambda r, w: _serve_one(health, r, w), settings.host, settings.port,
                                            limit=MAX_REQUEST_BYTES)
    except OSError as exc:
        log.error("no metrics endpoint on %s:%d (%s); VIGIL_METRICS__PORT picks another", settings.host,
                  settings.port, exc)
        return None
    log.info("metrics and health on http://%s:%d/metrics", settings.host, settings.port)
    return server


@asynccontextmanager
async def endpoint(settings: MetricsSettings, service: str, health: Health = HEALTH) -> AsyncIterator[Health]:
    """Serve this process's endpoint while the body runs; the body marks loading and starting."""
    health.named(service)
    server = await start_endpoint(settings, health)
    try:
        yield health
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
