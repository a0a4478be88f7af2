"""The plugin protocol: what a stage-3 plugin is, what it receives and what it returns.

A plugin is a class with a ``name`` and an async ``evaluate(estimation, memory)`` that returns a
``Verdict`` for one frame; it is built by a factory ``factory(settings) -> Plugin`` registered as
a Python entry point in the group ``vigil.plugins`` (built-ins live in
services/plugins/builtins/). It receives every frame of a session that has a main face, in order,
with all the estimator's measurements; ``memory`` keeps its per-session state in Redis so any
plugins-service instance can serve any frame. docs/plugins.md has a complete example.

It lives in shared/ because it is a contract between the plugins service and code outside it;
plugin authors import it through ``shared.api``, the stable surface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from pydantic import BaseModel

from shared.errors import FrameCheck
from shared.messages import Defence, EstimationMessage, LightInstruction, PluginVerdict
from shared.settings import Settings

StateT = TypeVar("StateT", bound=BaseModel)


@dataclass(frozen=True)
class Verdict:
    verdict: PluginVerdict
    codes: tuple[FrameCheck, ...] = ()
    mark_fake: bool = False
    progress: tuple[int, int] | None = None
    details: dict[str, float] = field(default_factory=dict)
    # Set to publish an event for operators (``PluginEvent`` on ``Keys.plugin_events``) with the details.
    announce: str | None = None
    # What the page must paint now (the light challenge); the decider puts it in the frame's reply.
    light: LightInstruction | None = None
    # On PASS: the active defence this plugin stands for, listed in the JWT's ``defences``.
    defence: Defence | None = None


class SessionMemory(Protocol):
    """A plugin's own state for one session (a pydantic model, kept in Redis with the session's TTL)."""

    async def load(self, model: type[StateT]) -> StateT | None: ...

    async def save(self, state: BaseModel) -> None: ...


class Plugin(Protocol):
    name: str

    async def evaluate(self, estimation: EstimationMessage, memory: SessionMemory) -> Verdict: ...


PluginFactory = Callable[[Settings], Plugin]
ENTRY_POINT_GROUP = "vigil.plugins"
