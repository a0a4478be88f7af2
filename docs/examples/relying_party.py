"""A relying party's backend verifying Vigil's JWT, in Python with PyJWT alone (no Vigil installed).

The page (or your app) gets the token from the check's ``success`` event and posts it to your
backend; never trust it in the browser. This checks what Vigil's own ``shared.api.verify_token``
checks (use that where Vigil is installed): the signature with the algorithm you expect, ``exp``
and ``iat``, the claims every Vigil token carries, ``aud`` and ``iss`` when you configured them,
``isOk``, and the ``nonce`` your backend made for this check (it binds the token to the check you
started, so a token from someone else's check is refused). Use each token once: remember its
``jti`` until ``exp`` (docs/decider.md).

    VIGIL_JWT_KEY=... python relying_party.py TOKEN --nonce NONCE --audience https://rp.example
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
import sys
from typing import Any

import jwt


def check_token(token: str, *, key: str | bytes, nonce: str, audience: str | None = None,
                issuer: str | None = None, algorithms: tuple[str, ...] = ("HS256",)) -> dict[str, Any]:
    """The token's claims when it proves a passed check for this nonce; else ``jwt.InvalidTokenError``."""
    required = ["exp", "iat", "jti", "sid", "nonce", *(["aud"] if audience else []), *(["iss"] if issuer else [])]
    # One algorithm list of your own, never the token's header: the algorithm-confusion attack.
    claims: dict[str, Any] = jwt.decode(token, key=key, algorithms=list(algorithms), audience=audience,
                                        issuer=issuer, options={"require": required})
    if claims.get("isOk") is not True:
        raise jwt.InvalidTokenError("the check did not pass")
    if not hmac.compare_digest(str(claims["nonce"]).encode(), nonce.encode()):
        raise jwt.InvalidTokenError("the token is for another check (nonce)")
    return claims


def main() -> int:
    parser = argparse.ArgumentParser(description="Verify a Vigil JWT (key in VIGIL_JWT_KEY).")
    parser.add_argument("token")
    parser.add_argument("--nonce", required=True)
    parser.add_argument("--audience")
    parser.add_argument("--issuer")
    args = parser.parse_args()
    try:
        claims = check_token(args.token, key=os.environ["VIGIL_JWT_KEY"], nonce=args.nonce,
                             audience=args.audience, issuer=args.issuer)
    except jwt.InvalidTokenError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"sid": claims["sid"], "jti": claims["jti"], "exp": claims["exp"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
