"""Finding the enabled plugins: built-ins by name, third-party ones through entry points."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from services.plugins.builtins.active_liveness import ActiveLiveness
from services.plugins.builtins.face_matcher import FaceMatcher
from services.plugins.builtins.light_challenge import LightChallenge
from services.plugins.builtins.virtual_camera import VirtualCameraChecker
from shared.errors import ConfigError
from shared.plugin_protocol import ENTRY_POINT_GROUP, Plugin, PluginFactory
from shared.plugins import ACTIVE_LIVENESS, FACE_MATCHER, LIGHT_CHALLENGE, VIRTUAL_CAMERA_CHECKER, enabled_plugins
from shared.settings import Settings

log = logging.getLogger(__name__)

BUILTINS: dict[str, PluginFactory] = {
    FACE_MATCHER: FaceMatcher,
    ACTIVE_LIVENESS: ActiveLiveness,
    LIGHT_CHALLENGE: LightChallenge,
    VIRTUAL_CAMERA_CHECKER: VirtualCameraChecker,
}


def load_plugins(settings: Settings) -> list[Plugin]:
    discovered = {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}
    plugins = []
    for name in enabled_plugins(settings):
        if name in BUILTINS:
            factory = BUILTINS[name]
        elif name in discovered:
            factory = discovered[name].load()
            log.info("third-party plugin %s from %s", name, discovered[name].value)
        else:
            raise ConfigError(f"plugin {name!r} is enabled but no entry point {ENTRY_POINT_GROUP}:{name} exists")
        plugin = factory(settings)
        if plugin.name != name:
            raise ConfigError(f"entry point {name!r} built a plugin named {plugin.name!r}")
        plugins.append(plugin)
    return plugins
