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

from shared.bus import Cursor, read_until
from shared.keys import Keys
from shared.messages import PluginResult
from shared.settings import Settings

RESULTS_PER_READ = 64  # the session's earlier frames' results come first: read past them in few round trips


async def join_plugins(redis: Redis, keys: Keys, settings: Settings, session_id: str, request_id: str,
                       expected: tuple[str, ...]) -> dict[str, PluginResult | None]:
    results: dict[str, PluginResult | None] = dict.fromkeys(expected)
    if not expected:
        return results

    def all_in(result: PluginResult) -> bool:
        if result.request_id == request_id and result.plugin in results:
            results[result.plugin] = result
        return all(found is not None for found in results.values())

    deadline = time.monotonic() + settings.decider.plugin_wait_ms / 1000
    await read_until(redis, Cursor(keys.plugin_results(session_id)), PluginResult, all_in, deadline=deadline,
                     count=RESULTS_PER_READ)
    return results
