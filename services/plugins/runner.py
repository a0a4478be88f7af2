"""Runs every enabled plugin on each frame with a main face and publishes their verdicts.

Plugins of one frame run concurrently, each bounded by ``plugins.timeout_ms``; a plugin that
raises or times out is logged and turned into a verdict by ``plugins.failure_policy`` ("fail":
blocks success on that frame; "skip": treated as a pass, with ``details.error = 1``). Never a hang.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import anyio
from redis.asyncio import Redis

from services.plugins.memory import FrameMemories
from services.plugins.registry import load_plugins
from shared.bus import publish_many
from shared.consumer import Delivery
from shared.keys import Keys
from shared.live_settings import LiveSettings
from shared.messages import EstimationMessage, Message, PluginEvent, PluginResult, PluginVerdict
from shared.plugin_protocol import Plugin, SessionMemory, Verdict
from shared.settings import Settings

log = logging.getLogger(__name__)


class PluginRunner:
    def __init__(self, redis: Redis, keys: Keys, live: LiveSettings) -> None:
        self.redis, self.keys, self.live, self.settings = redis, keys, live, live.base
        # Plugins built for each tag's current settings; rebuilt when a live change replaces them.
        self._built: dict[str | None, tuple[Settings, list[Plugin]]] = {}

    async def plugins_for(self, tag: str | None) -> tuple[Settings, list[Plugin]]:
        settings = await self.live.for_tag(tag)
        built = self._built.get(tag)
        if built is None or built[0] is not settings:
            built = settings, load_plugins(settings)
            self._built[tag] = built
            log.info("plugins for tag %s: %s", tag or self.live.own_tag,
                     ", ".join(p.name for p in built[1]) or "none enabled")
        return built

    async def handle(self, batch: Sequence[Delivery[EstimationMessage]]) -> None:
        entries: list[tuple[str, Message]] = []
        for delivery in batch:  # in order: a plugin's memory sees a session's frames one by one
            estimation = delivery.message
            if estimation.main_face is None or estimation.error is not None:
                continue  # the decider does not wait for plugins on frames without a face
            settings, plugins = await self.plugins_for(estimation.config_tag)
            memories = FrameMemories(self.redis, self.keys, estimation.session_id, settings.session.ttl_s)
            await memories.load([plugin.name for plugin in plugins])
            results: list[tuple[PluginResult, str | None]] = []
            async with anyio.create_task_group() as tasks:
                for plugin in plugins:
                    tasks.start_soon(self._run_one, plugin, estimation, settings, memories.of(plugin.name), results)
            await memories.flush()
            for result, announce in results:
                entries.append((self.keys.plugin_results(estimation.session_id), result))
                if announce is not None:
                    entries.append((self.keys.plugin_events, PluginEvent(
                        session_id=result.session_id, frame_no=result.frame_no, plugin=result.plugin,
                        at=time.time(), details=result.details, note=announce)))
        if entries:
            # Per-session result streams stay short; the shared events stream is bounded like the others.
            await publish_many(self.redis, entries, maxlen=self.settings.bus.reply_maxlen)

    async def _run_one(self, plugin: Plugin, estimation: EstimationMessage, settings: Settings,
                       memory: SessionMemory, results: list[tuple[PluginResult, str | None]]) -> None:
        try:
            with anyio.fail_after(settings.plugins.timeout_ms / 1000):
                verdict = await plugin.evaluate(estimation, memory)
        except TimeoutError:
            log.warning("plugin %s timed out on session %s frame %d", plugin.name, estimation.session_id,
                        estimation.frame_no)
            verdict = _failed(settings)
        except Exception:
            log.exception("plugin %s failed on session %s frame %d", plugin.name, estimation.session_id,
                          estimation.frame_no)
            verdict = _failed(settings)
        results.append((PluginResult(
            session_id=estimation.session_id, request_id=estimation.request_id, frame_no=estimation.frame_no,
            plugin=plugin.name, verdict=verdict.verdict, codes=verdict.codes, mark_fake=verdict.mark_fake,
            progress=verdict.progress, details=verdict.details, light=verdict.light,
            defence=verdict.defence if verdict.verdict is PluginVerdict.PASS else None,
        ), verdict.announce))



def _failed(settings: Settings) -> Verdict:
    if settings.plugins.failure_policy == "skip":
        return Verdict(PluginVerdict.PASS, details={"error": 1.0})
    return Verdict(PluginVerdict.FAIL, details={"error": 1.0})
