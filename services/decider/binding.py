"""What binds a token to its relying party and its session (docs/decider.md, "The JWT").

``iss`` and ``aud`` come from the live jwt settings (a UI config's own ``audience`` replaces
``jwt.audience`` for sessions its page started), ``nonce`` from the relying party's CONNECT header,
both read from the session record the ingress keeps. With ``jwt.claims = minimal`` the token keeps
the verdict, the ids and the evidence sources only; the full claims wait in ``P:result:{jti}`` for
the relying party's backend (GET /api/results/{jti}) until the token expires.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis

from shared.keys import SESSION_NONCE, SESSION_UI_CONFIG, Keys
from shared.settings import Settings
from shared.store import hash_get_many
from shared.ui_config import ui_config_store

log = logging.getLogger(__name__)

# What a minimal token keeps: the verdict, the ids, what evidence and defences stood behind it.
MINIMAL_CLAIMS = ("errors", "isOk", "evidence", "defences", "jti", "sid", "transcript")


async def bind(redis: Redis, keys: Keys, settings: Settings, session_id: str, claims: dict[str, Any]) -> dict[str, Any]:
    """``claims`` with ``iss``, ``aud`` and ``nonce`` added; cut to the minimal set (the full set
    stored for the results endpoint) when ``jwt.claims`` says so."""
    options = settings.jwt
    record = await hash_get_many(redis, keys.session(session_id), [SESSION_NONCE, SESSION_UI_CONFIG])
    nonce, ui_config = (value.decode() if value is not None else None for value in record)
    bound = dict(claims)
    if options.issuer:
        bound["iss"] = options.issuer
    audience = await _config_audience(redis, keys, ui_config) or options.audience
    if audience:
        bound["aud"] = audience if isinstance(audience, str) else list(audience)
    if nonce:
        bound["nonce"] = nonce
    if options.claims == "full":
        return bound
    await redis.set(keys.result(bound["jti"]), json.dumps(bound), ex=options.ttl_s)
    extra = {name: bound[name] for name in ("iss", "aud", "nonce") if name in bound}
    return {**{name: bound[name] for name in MINIMAL_CLAIMS if name in bound}, **extra}


async def _config_audience(redis: Redis, keys: Keys, name: str | None) -> str | None:
    if not name:
        return None
    stored = ui_config_store(redis, keys)
    raw = await stored.raw(name)
    if raw is None:
        return None
    try:
        return stored.parse(raw).audience
    except ValidationError as exc:
        # The ingress already refuses to serve such a config; the token falls back to jwt.audience.
        log.error("UI config %r is invalid, its audience ignored: %s", name, exc.error_count())
        return None
