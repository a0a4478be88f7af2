"""Which stage-3 plugins are enabled: the decider waits for exactly these, the plugins service
runs exactly these. Names are the contract between them (and third-party entry points)."""

from __future__ import annotations

from shared.settings import Settings

FACE_MATCHER = "face_matcher"
ACTIVE_LIVENESS = "active_liveness"
VIRTUAL_CAMERA_CHECKER = "virtual_camera_checker"
LIGHT_CHALLENGE = "light_challenge"


def enabled_plugins(settings: Settings) -> tuple[str, ...]:
    names = []
    if settings.session.previous_face_similarity is not None:
        names.append(FACE_MATCHER)
    if settings.active_liveness.is_enabled:
        names.append(ACTIVE_LIVENESS)
    if settings.light_challenge.is_enabled:
        names.append(LIGHT_CHALLENGE)
    if settings.virtual_camera_checker.is_enabled:
        names.append(VIRTUAL_CAMERA_CHECKER)
    return (*names, *settings.plugins.extra)
