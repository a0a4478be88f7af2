"""The user's task hook (the guide's ``lunapassvideo.task.py``): a callable named by a dotted path
in ``video.task_hook``, called with each finished video's ``VideoMessage``.

``hook(video: VideoMessage) -> None``; a coroutine function is awaited, a plain function runs
in a worker thread so a slow hook (an upload) does not stall the builder. A hook that raises is
logged; the builder goes on.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from typing import Any

import anyio

from shared.errors import ConfigError
from shared.messages import VideoMessage

log = logging.getLogger(__name__)

Hook = Callable[[VideoMessage], Any]


def load_hook(path: str | None) -> Hook | None:
    """Import ``package.module.function`` (or ``package.module:function``); ConfigError if absent."""
    if not path:
        return None
    module_name, sep, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"video.task_hook {path!r} is not a dotted path to a callable")
    try:
        hook: Hook = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"video.task_hook {path!r} cannot be loaded: {exc}") from exc
    if not callable(hook):
        raise ConfigError(f"video.task_hook {path!r} is not callable")
    return hook


async def run_hook(hook: Hook | None, video: VideoMessage) -> bool:
    """Call ``hook``; False (and logged) when it failed."""
    if hook is None:
        return True
    try:
        if inspect.iscoroutinefunction(hook):
            await hook(video)
        else:
            await anyio.to_thread.run_sync(hook, video)
    except Exception:  # user code: any failure is logged, the builder goes on
        log.exception("video task hook failed for session %s", video.session_id)
        return False
    return True
