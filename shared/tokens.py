"""Verifying a Vigil JWT: what a relying party runs (also ``vigil verify TOKEN``).

    from shared.tokens import verify_token
    payload = verify_token(token, key=SECRET_OR_PUBLIC_PEM, algorithms=["HS256"],
                           audience="https://rp.example", issuer="https://vigil.example", nonce=NONCE)

It checks the signature, ``exp`` and ``iat``, that ``isOk`` is true, and, when given, ``aud``,
``iss`` and the ``nonce`` the relying party sent in CONNECT (so its backend accepts only the token of
the check it started). A token that carries ``aud`` is refused without ``audience``. It raises
``jwt.InvalidTokenError`` (or a subclass) for a bad token and ``jwt.InvalidKeyError`` for a key
that does not suit the algorithms (a public key with HS*: the algorithm-confusion attack).
Payload fields: docs/decider.md.

A token is single-use where the relying party says so: ``first_use(redis, keys, payload)`` records
its ``jti`` until the token expires and is False for a token seen before (a replay);
``vigil verify --once`` does it against Vigil's own Redis.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from typing import Any

import jwt
from redis.asyncio import Redis

from shared.keys import Keys

REQUIRED_CLAIMS = ["exp", "iat", "jti", "sid"]
# PEM and OpenSSH public keys: never an HMAC secret.
_ASYMMETRIC_MARKERS = (b"-----BEGIN", b"ssh-rsa", b"ssh-ed25519", b"ecdsa-sha2-")


def verify_token(token: str, *, key: str | bytes, algorithms: list[str], audience: str | Sequence[str] | None = None,
                 issuer: str | None = None, nonce: str | None = None) -> dict[str, Any]:
    raw_key = key.encode() if isinstance(key, str) else key
    if any(a.upper().startswith("HS") for a in algorithms) and raw_key.lstrip().startswith(_ASYMMETRIC_MARKERS):
        raise jwt.InvalidKeyError("a public or private key cannot verify an HS* token: give the HS secret, "
                                  "or the algorithm the key is for (RS256, ES256)")
    required = [*REQUIRED_CLAIMS, *(["aud"] if audience else []), *(["iss"] if issuer else []),
                *(["nonce"] if nonce is not None else [])]
    try:
        payload: dict[str, Any] = jwt.decode(
            token, key=key, algorithms=algorithms, audience=audience or None, issuer=issuer,
            options={"require": required},
        )
    except ValueError as exc:  # cryptography could not load the key (PyJWT's own errors are not ValueErrors)
        raise jwt.InvalidKeyError(f"the key is not a usable {'/'.join(algorithms)} key: {exc}") from None
    if payload.get("isOk") is not True:
        raise jwt.InvalidTokenError("token does not say isOk")
    if nonce is not None and not hmac.compare_digest(str(payload.get("nonce", "")).encode(), nonce.encode()):
        raise jwt.InvalidTokenError("nonce does not match the one this relying party sent")
    return payload


async def first_use(redis: Redis, keys: Keys, payload: dict[str, Any]) -> bool:
    """Record the verified token's ``jti`` until its ``exp``: True the first time, False for a
    token that was verified before (a replay). Atomic (SET NX), so two verifiers racing get one True."""
    ttl = max(1, int(payload["exp"] - time.time()) + 1)
    return bool(await redis.set(keys.token_used(str(payload["jti"])), str(payload.get("sid", "")), nx=True, ex=ttl))
