"""The CONNECT headers that bind the session's token (docs/protocol.md): the relying party's
``nonce``, which comes back as the JWT's ``nonce`` claim, and the ``ui-config`` the page was opened
with, whose ``audience`` becomes the token's ``aud``. Both are kept in the session record."""

from __future__ import annotations

import re

from shared.errors import ProtocolError, SystemCode
from shared.keys import SESSION_NONCE, SESSION_UI_CONFIG
from shared.ui_config import NAME_PATTERN

# Printable ASCII without spaces, as OpenID Connect nonces are; long enough for a base64 SHA-512.
NONCE_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")


def token_binding(headers: dict[str, str]) -> dict[str, str]:
    """The session record fields from CONNECT's ``nonce`` and ``ui-config`` headers (absent: none)."""
    binding = {}
    nonce = headers.get("nonce", "").strip()
    if nonce:
        if not NONCE_PATTERN.match(nonce):
            raise ProtocolError("nonce must be 1-128 printable ASCII characters", code=SystemCode.BAD_HEADER)
        binding[SESSION_NONCE] = nonce
    ui_config = headers.get("ui-config", "").strip()
    if ui_config:
        if not NAME_PATTERN.match(ui_config):
            raise ProtocolError("ui-config is not a config name", code=SystemCode.BAD_HEADER)
        binding[SESSION_UI_CONFIG] = ui_config
    return binding
