"""Settings of the front doors: the ingress (its socket and page, admission under load, abuse
limits), the admin panel, and the token a passed check gets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.settings.base import Group

# An origin as browsers compare them: scheme, host (or a *. subdomain wildcard), optional port.
ORIGIN_PATTERN = re.compile(r"^https?://(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$")


class IngressSettings(Group):
    host: str = "127.0.0.1"
    port: int = Field(8321, ge=1, le=65535)
    max_message_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Size limit of a WebSocket message.")
    max_header_bytes: int = Field(4096, ge=256, description="Size limit of a message's header block.")
    max_image_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Size limit of a decoded image.")
    max_image_pixels: int = Field(4096 * 4096, ge=64 * 64, description="Size limit of an image's pixel count.")
    min_image_side: int = Field(64, ge=16)
    reply_timeout_s: float = Field(
        15.0, gt=0,
        description="Seconds the ingress waits for a frame's decision before answering ERROR (never a hang).")
    connect_timeout_s: float = Field(10.0, gt=0, description=(
        "A WebSocket that has not sent CONNECT this many seconds after opening is closed (4006), "
        "and so is a connected session with no FRAME for idle_timeout_s (None: never): an idle "
        "socket holds memory and a place under admission. The page resumes such a session when it "
        "sends again."))
    idle_timeout_s: float | None = Field(120.0, gt=0)
    max_connections: int = Field(1000, ge=1, description=(
        "Open WebSockets per ingress process, CONNECTed or not; one more is refused with ERROR 1020 "
        "and close 1013, as for load (docs/protocol.md)."))
    min_heartbeat_ms: int = Field(100, ge=10, description="The shortest heartbeat period a client may ask for, in ms.")
    max_heartbeat_ms: int = Field(60_000, ge=100, description="The longest heartbeat period a client may ask, in ms.")
    frame_ancestors: tuple[str, ...] = Field(("'self'",), min_length=1, description=(
        "Who may put the check page in a frame (CSP frame-ancestors; also Permissions-Policy camera "
        "and, where it can say the same, X-Frame-Options): \"'self'\", \"'none'\", or origins such as "
        "\"https://shop.example\" (JSON list). Anyone else's frame stays empty (clickjacking the "
        "camera)."))

    @field_validator("frame_ancestors")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "'none'" in value and len(value) > 1:
            raise ValueError("'none' cannot be combined with other frame ancestors")
        for item in value:
            if item not in ("'self'", "'none'") and not ORIGIN_PATTERN.match(item):
                raise ValueError("each frame ancestor is 'self', 'none' or an origin like https://shop.example")
        return value


class AdmissionSettings(Group):
    """Graceful overload (docs/protocol.md, code 1020): each ingress admits new sessions up to a
    limit that grows while recent replies are fast and shrinks when they are slow or frames queue
    up for the estimators (additive increase, multiplicative decrease). A session already admitted,
    or resumed with its session-id, is never refused or dropped for load."""

    is_enabled: bool = True
    p95_budget_ms: float = Field(
        300.0, gt=0,
        description="The server-side reply time (FRAME received -> reply sent) whose p95 must stay under this.")
    grow_below_share: float = Field(0.6, gt=0, lt=1, description=(
        "The limit grows only while the recent p95 is under this share of the budget (headroom for "
        "the sessions just admitted, whose cost shows only after they start sending)."))
    shrink_above_share: float = Field(0.85, gt=0, le=1, description=(
        "The limit shrinks once the recent p95 is over this share of the budget: it reacts to a "
        "window already past, so the p95 people see overshoots what it reacts to (measured: "
        "shrinking at 100 % gave a client-side p95 of 322 ms at twice the capacity against a 300 ms "
        "budget)."))
    max_backlog_frames: int = Field(
        30, ge=1,
        description="Frames published and not yet finished by the estimators beyond which the limit shrinks.")
    window_s: float = Field(
        5.0, ge=1,
        description="How far back the p95 looks; the limit is reconsidered every half of it.")
    initial_sessions: int = Field(4, ge=1)
    min_sessions: int = Field(2, ge=1)
    max_sessions: int | None = Field(
        None, ge=1,
        description="A hard cap on this ingress's open sessions whatever the latency says; None: none.")
    retry_after_s: int = Field(
        5, ge=1, le=300,
        description="Seconds a refused client is told to wait (the check page counts them down, then retries).")

    @model_validator(mode="after")
    def _grow_under_shrink(self) -> AdmissionSettings:
        if self.grow_below_share >= self.shrink_above_share:
            raise ValueError("admission.grow_below_share must be under admission.shrink_above_share")
        return self


class AbuseSettings(Group):
    """Abuse limits of the ingress (docs/protocol.md, code 1022), shared by every ingress through
    Redis. A failed session is one the service ended without success (attempts spent, a fake, the
    face changed); a dropped connection is not one. The defaults follow AWS's published guidance for
    Face Liveness: at most 5 failed checks per device in 3 minutes, then a wait of 30-60 minutes."""

    is_enabled: bool = True
    window_s: int = Field(180, ge=10)
    max_failures_per_device: int = Field(
        5, ge=1,
        description="Per device (the page's stable random id) and per relying-party user key.")
    max_failures_per_address: int = Field(20, ge=1, description=(
        "Per client address: higher, since many people can share one (an office, a mobile carrier's "
        "NAT)."))
    block_s: int = Field(1800, ge=10)
    max_sessions_per_address: int = Field(10, ge=1, description="Sessions one address may have open at once.")
    max_new_sessions_per_minute: int = Field(30, ge=1, description="New sessions one address may start per minute.")


class AdminSettings(Group):
    host: str = "127.0.0.1"
    port: int = Field(8322, ge=1, le=65535)
    session_ttl_s: int = Field(
        8 * 3600, ge=300,
        description="A sign-in lasts this long (absolute: cookie and Redis record expire together).")
    max_failures_per_user: int = Field(5, ge=1, description=(
        "Failed sign-ins per user name within signin_window_s before that user is locked for the "
        "rest of the window (other users are never affected)."))
    max_failures_per_address: int = Field(20, ge=1, description=(
        "Failed sign-ins per client address within the window before its sign-ins are slowed down "
        "(a delay doubling per further failure, up to max_signin_delay_s); never refused, so a "
        "shared address (an office, a proxy) cannot lock everyone out."))
    max_signin_delay_s: float = Field(10.0, ge=0, le=60)
    signin_window_s: int = Field(900, ge=60)
    secure_cookies: bool = Field(False, description="Behind HTTPS: the session cookie then travels only over TLS.")
    ingress_url: str | None = Field(
        None,
        description="Base URL of the check page for \"view site\"; None: http://<ingress.host>:<ingress.port>.")


class JwtSettings(Group):
    algorithm: Literal["HS256", "HS384", "HS512", "RS256", "ES256"] = "HS256"
    key: SecretStr | None = Field(None, description=(
        "HS*: the shared secret. No default ships: production refuses to start without one; in "
        "development a random one is generated on first start and kept in ``key_file``."))
    key_file: Path = Path("var/secrets/jwt.key")
    private_key_file: Path | None = Field(
        None,
        description="RS256 / ES256: PEM private key (the decider signs); relying parties get the public key.")
    kid: str | None = Field(None, description="Key id put in the token header so relying parties can rotate keys.")
    ttl_s: int = Field(600, ge=1)
    issuer: str | None = Field(
        None, min_length=1, max_length=200,
        description="``iss`` in every token (e.g. the service's URL); None: no ``iss``.")
    audience: str | tuple[str, ...] | None = Field(None, description=(
        "``aud``: the relying party (or a JSON list of them) the tokens are for; a UI config's own "
        "``audience`` replaces it for sessions started from that config. None: no ``aud``."))
    claims: Literal["full", "minimal"] = Field("full", description=(
        "full: the baseline's payload (best shot, every score); minimal: verdict, ids, evidence "
        "sources and defences, under 2 KB (recommended in production): the relying party's backend "
        "fetches the best shot and report by ``jti`` from GET /api/results/{jti} (docs/decider.md)."))
    results_key: SecretStr | None = Field(None, description=(
        "The relying party's credential for GET /api/results/{jti} (``Authorization: Bearer KEY``); "
        "None: that endpoint answers 404 for every jti."))
