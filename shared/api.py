"""Vigil's public API: the one module plugin authors and relying parties import from.

Everything else (``services.*``, ``infra.*``, ``admin.*`` and the other ``shared.*`` modules) is
internal and may change in any release; these names are the stable surface.

**Plugin authors** (docs/plugins.md, "Writing a plugin"): a plugin satisfies ``Plugin`` (a
``name`` and ``async evaluate(estimation, memory) -> Verdict``), is built by a ``PluginFactory``
from the process's ``Settings`` and is registered as an entry point in ``ENTRY_POINT_GROUP``. It
reads an ``EstimationMessage`` (the main face's measurements in ``FaceAnalysis``, the page's
``ClientInfo``), keeps per-session state through ``SessionMemory`` and answers a ``Verdict``: a
``PluginVerdict`` with ``FrameCheck`` codes; ``Verdict.announce`` publishes an event operators
see (the admin's Plugin events page, ``vigil plugin-events``).

**Relying parties** (docs/decider.md, "Verifying"): ``verify_token`` checks a token (raising
``InvalidTokenError``, or ``InvalidKeyError`` for a key that does not suit the algorithms),
``first_use`` makes it single-use in Vigil's Redis (key names from ``Keys``), ``transcript``
recomputes the token's hash chain over the frames a relying party kept. Programs that send frames
themselves speak LPProto with ``LPClient`` (each answer a ``Reply`` whose ``Command`` says what it
is; docs/protocol.md).

**Versioning promise.** The names in ``__all__`` follow the ``vigil`` distribution's version
(pyproject.toml) by semantic versioning: within one major version (while it is 0.x: within one
minor version) none is removed or renamed, and no signature or documented field changes
incompatibly; messages may gain optional fields (they are versioned, shared/messages.py), enums
and ``FrameCheck`` may gain members, and a plugin must tolerate both. tests/test_api.py pins the
list, so a change to it is deliberate. ``services.plugins.plugin``, where plugins imported the
protocol from before, keeps working as an alias.
"""

from __future__ import annotations

from jwt import InvalidKeyError, InvalidTokenError

from shared.client import LPClient, Reply
from shared.errors import FrameCheck
from shared.keys import Keys
from shared.lpproto import Command
from shared.messages import ClientInfo, EstimationMessage, EyeState, FaceAnalysis, PluginVerdict
from shared.plugin_protocol import ENTRY_POINT_GROUP, Plugin, PluginFactory, SessionMemory, Verdict
from shared.settings import Settings
from shared.tokens import first_use, verify_token
from shared.transcript import transcript

__all__ = [
    "ENTRY_POINT_GROUP",
    "ClientInfo",
    "Command",
    "EstimationMessage",
    "EyeState",
    "FaceAnalysis",
    "FrameCheck",
    "InvalidKeyError",
    "InvalidTokenError",
    "Keys",
    "LPClient",
    "Plugin",
    "PluginFactory",
    "PluginVerdict",
    "Reply",
    "SessionMemory",
    "Settings",
    "Verdict",
    "first_use",
    "transcript",
    "verify_token",
]
