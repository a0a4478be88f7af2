"""The LPProto client's old home: it lives in ``shared.client`` (the public surface, ``shared.api``,
re-exports it); this name stays for the commands, tests and benchmarks that import it from here."""

from __future__ import annotations

from shared.client import CONTENT_TYPES, LPClient, Reply

__all__ = ["CONTENT_TYPES", "LPClient", "Reply"]
