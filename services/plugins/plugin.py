"""The plugin protocol's old home, kept so plugins written against it still load.

The protocol lives in ``shared.plugin_protocol``; plugin authors import it from ``shared.api``
(the stable surface, docs/plugins.md). New code imports neither name from here.
"""

from __future__ import annotations

from shared.plugin_protocol import ENTRY_POINT_GROUP, Plugin, PluginFactory, SessionMemory, StateT, Verdict

__all__ = ["ENTRY_POINT_GROUP", "Plugin", "PluginFactory", "SessionMemory", "StateT", "Verdict"]
