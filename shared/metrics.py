"""Every Prometheus metric a Vigil process exports, defined once (docs/monitoring.md).

Names follow Prometheus's conventions: the ``vigil_`` prefix, base units (``_seconds``,
``_bytes``), ``_total`` for counters (prometheus-client appends it). Labels take only bounded
values: stage names (shared/stages.py), stream and group names without the key prefix, reply
kinds, session outcomes, close codes, model names; never a session id, a device or an address.
Each process exports its own series (the scraper adds ``job`` and ``instance``); the process's
resident memory is ``process_resident_memory_bytes`` from prometheus-client's process collector.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector

from shared.stages import Stage

# One registry per process, not prometheus-client's global one: what /metrics shows is exactly
# what this module defines plus the process and platform collectors.
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

# A frame's stages take from ~0.1 ms (the face state) to ~50 ms (detection on one core); the
# round trip has a 300 ms p95 budget (admission.p95_budget_ms) and a 15 s timeout.
STAGE_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
ROUND_TRIP_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 20.0)
BATCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

SERVICE_INFO = Gauge("vigil_service_info", "1, labelled with the service this process runs.", ["service"],
                     registry=REGISTRY)
READY = Gauge("vigil_ready", "1 when the process can do work (/health/ready answers 200).", registry=REGISTRY)

# The ingress: frames in, replies out, the round trip, how sessions and sockets end.
FRAMES_RECEIVED = Counter("vigil_frames_received", "FRAME messages the ingress received.", registry=REGISTRY)
REPLIES_SENT = Counter("vigil_replies_sent", "Replies the ingress sent to FRAMEs, by kind (STATS, SUCCESS, ERROR).",
                       ["kind"], registry=REGISTRY)
ROUND_TRIP = Histogram("vigil_reply_round_trip_seconds", "FRAME received to its reply sent, at the ingress.",
                       ["kind"], buckets=ROUND_TRIP_BUCKETS, registry=REGISTRY)
SESSIONS_ENDED = Counter("vigil_sessions_ended", "Sessions ended, by outcome (success, failed, disconnected).",
                         ["outcome"], registry=REGISTRY)
WEBSOCKET_CLOSES = Counter("vigil_websocket_closes", "WebSockets closed, by close code ('client': closed by the peer).",
                           ["code"], registry=REGISTRY)

# Every consumer loop (shared/consumer.py): entries in and out, batch time, dead letters.
CONSUMED = Counter("vigil_consumer_entries", "Stream entries a consumer's handler took, by outcome (acked; "
                   "failed: left pending for a retry). Parked entries: vigil_dead_letters_total.",
                   ["stream", "group", "outcome"],
                   registry=REGISTRY)
BATCH_SECONDS = Histogram("vigil_consumer_batch_seconds", "Time a consumer's handler took per batch.",
                          ["stream", "group"], buckets=BATCH_BUCKETS, registry=REGISTRY)
DEAD_LETTERS = Counter("vigil_dead_letters", "Entries parked in a dead-letter stream.", ["stream", "group"],
                       registry=REGISTRY)
READ_LAG = Gauge("vigil_consumer_read_lag_seconds", "Age of the oldest entry of the last batch read.",
                 ["stream", "group"], registry=REGISTRY)

# Sampled by the monitor task (shared/monitor.py), never on the scrape.
STREAM_LENGTH = Gauge("vigil_stream_length", "Entries in a stream (XLEN).", ["stream"], registry=REGISTRY)
GROUP_LAG = Gauge("vigil_consumer_group_lag", "Entries of a stream not yet delivered to a consumer group.",
                  ["stream", "group"], registry=REGISTRY)
GROUP_PENDING = Gauge("vigil_consumer_group_pending", "Entries delivered to a group and not yet acknowledged.",
                      ["stream", "group"], registry=REGISTRY)
REDIS_UP = Gauge("vigil_redis_up", "1 when the last ping of Redis answered.", registry=REGISTRY)
REDIS_ERRORS = Counter("vigil_redis_errors", "Redis commands that failed for want of Redis (unreachable, "
                       "timeout, full), by component.", ["component"], registry=REGISTRY)
REDIS_RECONNECTS = Counter("vigil_redis_reconnects", "Times Redis answered again after being unreachable.",
                           registry=REGISTRY)

# The estimator.
STAGE_SECONDS = Histogram("vigil_estimator_stage_seconds", "Time of one estimator stage per frame.", ["stage"],
                          buckets=STAGE_BUCKETS, registry=REGISTRY)
MODEL_LOAD_SECONDS = Gauge("vigil_model_load_seconds", "Time to open a model's inference session at start.", ["model"],
                           registry=REGISTRY)

STAGE_CHILDREN = {stage.value: STAGE_SECONDS.labels(stage.value) for stage in Stage}


def observe_stages(timings_ms: Mapping[str, float]) -> None:
    """One frame's stage timings (services/estimator/timings.py); only the named stages become labels."""
    for name, ms in timings_ms.items():
        child = STAGE_CHILDREN.get(name)
        if child is not None:
            child.observe(ms / 1000.0)


def stream_label(prefix: str, stream: str) -> str:
    """A stream's name without the key prefix ("frames", "dead:frames"): the same label on every deployment."""
    return stream.removeprefix(prefix + ":")
