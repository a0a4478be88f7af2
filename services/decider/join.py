"""Joining the stage-3 plugins' results for a frame, with a bounded wait.

Each enabled plugin publishes one ``PluginResult`` per frame on the session's plugin-results
stream. The decider waits until every expected plugin has answered for this ``request_id`` or
``decider.plugin_wait_ms`` passed; a plugin that did not answer counts as "missing", which blocks
success on that frame (fail closed) and is written to the audit stream. No plugins enabled: no
wait at all.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from shared.bus import text
from shared.keys import Keys
from shared.messages import PluginResult, decode
from shared.settings import Settings


async def join_plugins(redis: Redis, keys: Keys, settings: Settings, session_id: str, request_id: str,
                       expected: tuple[str, ...]) -> dict[str, PluginResult | None]:
    results: dict[str, PluginResult | None] = dict.fromkeys(expected)
    if not expected:
        return results
    stream = keys.plugin_results(session_id)
    last_id = "0-0"
    deadline = time.monotonic() + settings.decider.plugin_wait_ms / 1000
    while any(result is None for result in results.values()):
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        if remaining_ms <= 0:
            break
        reply = await redis.xread({stream: last_id}, count=64, block=remaining_ms)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last_id = text(entry_id)
                result = decode(PluginResult, fields)
                if result.request_id == request_id and result.plugin in results:
                    results[result.plugin] = result
    return results
