"""Verifying a Vigil JWT: what a relying party runs (also ``vigil verify TOKEN``).

    from shared.tokens import verify_token
    payload = verify_token(token, key=SECRET_OR_PUBLIC_PEM, algorithms=["HS256"])

It checks the signature, ``exp`` and ``iat``, and that ``isOk`` is true; it raises
``jwt.InvalidTokenError`` (or a subclass) otherwise. Payload fields: docs/decider.md.
"""

from __future__ import annotations

from typing import Any

import jwt

REQUIRED_CLAIMS = ["exp", "iat", "jti", "sid"]


def verify_token(token: str, *, key: str | bytes, algorithms: list[str]) -> dict[str, Any]:
    payload: dict[str, Any] = jwt.decode(
        token, key=key, algorithms=algorithms, options={"require": REQUIRED_CLAIMS},
    )
    if payload.get("isOk") is not True:
        raise jwt.InvalidTokenError("token does not say isOk")
    return payload
