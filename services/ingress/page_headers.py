"""The check page's framing and privacy headers (docs/protocol.md, "The check page's headers").

The page opens the camera, so a frame on another site could hide it and collect a click on the
camera prompt (clickjacking). ``ingress.frame_ancestors`` names who may frame it: CSP
``frame-ancestors`` says so to every current browser, ``X-Frame-Options`` repeats it for old ones
where it can say the same ('self' -> SAMEORIGIN, 'none' -> DENY; it cannot list origins, so it is
left out then rather than contradict the CSP), and ``Permissions-Policy`` lets the camera work only
in those same documents. ``Referrer-Policy: no-referrer``: the page's URL may carry a relying
party's ``nonce``, which must not leak to anything the page loads or links to.
"""

from __future__ import annotations

from collections.abc import Sequence

SELF, NONE = "'self'", "'none'"


def page_headers(policy: str, ancestors: Sequence[str]) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": f"{policy}; frame-ancestors {' '.join(ancestors)}",
        "Permissions-Policy": f"camera=({_allow_list(ancestors)}), microphone=(), geolocation=()",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    if list(ancestors) == [SELF]:
        headers["X-Frame-Options"] = "SAMEORIGIN"
    elif list(ancestors) == [NONE]:
        headers["X-Frame-Options"] = "DENY"
    return headers


def _allow_list(ancestors: Sequence[str]) -> str:
    """Permissions-Policy's syntax for the same documents: ``self`` and quoted origins."""
    if NONE in ancestors:
        return "self"  # framed by nobody, but the page itself still needs its camera
    # The page itself always uses the camera; the embedding origins' frames may too.
    return " ".join(["self", *(f'"{origin}"' for origin in ancestors if origin != SELF)])
