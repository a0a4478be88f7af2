"""Settings every process runs with: where Redis is, the bus's bounds, logs and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.settings.base import Group


class RedisSettings(Group):
    """Where Redis is, one of three ways (at most one is set; none: the embedded Redis of `vigil
    run`). `URL`: `redis://[user:password@]host:port/db`, `rediss://` for TLS, `unix://`. `HOST`
    with `PORT`, `USERNAME`, `PASSWORD`, `DB`, `TLS`: the same in parts. `SENTINEL_MASTER_NAME`
    with `SENTINELS` (JSON list of `"host:port"`): the master that Redis Sentinel names, found again
    after a failover; `USERNAME`/`PASSWORD`/`DB`/`TLS` are the master's, `SENTINEL_USERNAME`/
    `SENTINEL_PASSWORD` the sentinels' own. Every process connects through `shared/redis_connect.py`
    (docs/deployment.md)."""

    url: str | None = Field(
        None,
        description="None (and no host, no sentinel): the launcher starts an embedded redis-server under var/.")
    host: str | None = Field(None, min_length=1)
    port: int = Field(6379, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    db: int = Field(0, ge=0)
    tls: bool = False
    tls_ca_file: Path | None = Field(
        None,
        description="A private CA's bundle for a TLS Redis (None: the system's trust store).")
    sentinel_master_name: str | None = Field(None, min_length=1)
    sentinels: tuple[str, ...] = ()
    sentinel_username: str | None = None
    sentinel_password: SecretStr | None = None
    keepalive_idle_s: int = Field(5, ge=1, description=(
        "A dead peer (host gone, no TCP reset) is noticed after about idle + interval x count "
        "seconds, even inside a blocking read; the client then reconnects (through the sentinels: "
        "the new master)."))
    keepalive_interval_s: int = Field(2, ge=1, description="Seconds between keepalive probes (see keepalive_idle_s).")
    keepalive_count: int = Field(3, ge=1, description="Unanswered probes before the connection counts as dead.")
    embedded_port: int = Field(6399, ge=1, le=65535)
    embedded_maxmemory_mb: int = Field(1024, ge=0, description=(
        "The embedded Redis's memory bound (0: none); at the bound writes fail rather than evict "
        "(infra/redis_server.py, docs/operations.md). 1 GiB holds the frames stream's age bound at "
        "the measured capacity with room to spare."))
    key_prefix: str = Field(
        "vigil",
        description="Every key and stream name starts with this; tests give each test its own prefix.")

    @field_validator("sentinels")
    @classmethod
    def _addresses(cls, sentinels: tuple[str, ...]) -> tuple[str, ...]:
        for address in sentinels:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"a sentinel is \"host:port\", not {address!r}")
        return sentinels

    @model_validator(mode="after")
    def _one_way(self) -> RedisSettings:
        ways = [name for name, value in (("URL", self.url), ("HOST", self.host),
                                         ("SENTINEL_MASTER_NAME", self.sentinel_master_name)) if value]
        if len(ways) > 1:
            raise ValueError(f"set one of URL, HOST, SENTINEL_MASTER_NAME, not {' and '.join(ways)}")
        if self.sentinel_master_name and not self.sentinels:
            raise ValueError("SENTINEL_MASTER_NAME needs SENTINELS (a JSON list of \"host:port\")")
        return self

    @property
    def is_embedded(self) -> bool:
        """No Redis configured: `vigil run` starts its own."""
        return not (self.url or self.host or self.sentinel_master_name)


class LoggingSettings(Group):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = Field("text", description=(
        "\"json\": one JSON object per line (time, level, logger, message, process) for a log "
        "collector; chosen at start (environment only), while the level stays live."))


class MetricsSettings(Group):
    """Prometheus metrics and health probes (docs/monitoring.md): each process serves `/metrics`,
    `/health/live` and `/health/ready` on a port of its own."""

    host: str = Field(
        "127.0.0.1",
        description="The address the endpoint listens on (\"0.0.0.0\" for a scraper or a probe on another host).")
    port: int | None = Field(
        None, ge=0, le=65535,
        description="This process's port; 0 or null: no endpoint. Processes started by hand need one each.")
    launcher_first_port: int | None = Field(9460, ge=0, le=65535, description=(
        "`vigil run` gives its processes consecutive ports from this one, in its start order "
        "(ingress, estimators, decider, plugins, videobuilder, admin); 0 or null: none."))
    sample_interval_s: float = Field(2.0, gt=0, le=60, description=(
        "How often Redis is pinged (readiness) and the streams' length, lag and pending are "
        "sampled."))


class BusSettings(Group):
    """The consumer loop shared by every service (see shared/consumer.py)."""

    block_ms: int = Field(1000, ge=1)
    claim_idle_ms: int = Field(
        5000, ge=100,
        description="Entries pending longer than this are taken over from a dead consumer with XAUTOCLAIM.")
    max_deliveries: int = Field(
        5, ge=1,
        description="After this many deliveries an entry is parked in the dead-letter stream.")
    stream_maxlen: int = Field(
        10_000, ge=100,
        description="Approximate MAXLEN of the shared streams (frames, estimations).")
    frames_max_age_s: int = Field(300, ge=10, description=(
        "The streams that carry images (frames, estimations) are also trimmed by age and by size "
        "(shared/retention.py): entries older than this go (the video builder and the FileLogger "
        "copy what they need long before; a consumer lagging past half of it is logged) ..."))
    frames_max_mb: int = Field(512, ge=8, description=(
        "... and its entries are bounded so that, at the mean size of recent frames, it holds about "
        "this many MiB (4 MB frames: ~128 entries; the page's ~50 KB frames: the count bound above "
        "applies)."))
    reply_maxlen: int = Field(100, ge=10, description="Approximate MAXLEN of a per-session reply stream.")
