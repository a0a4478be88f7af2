"""Which stage-3 plugins are enabled: the decider waits for exactly these, the plugins service
runs exactly these. Names are the contract between them (and third-party entry points)."""

from __future__ import annotations

from shared.messages import HeadPose
from shared.settings import Settings

FACE_MATCHER = "face_matcher"
ACTIVE_LIVENESS = "active_liveness"
VIRTUAL_CAMERA_CHECKER = "virtual_camera_checker"
LIGHT_CHALLENGE = "light_challenge"

# The FaceMatcher compares faces this close to frontal only (yaw and pitch, degrees): the same person
# at 20-60 degrees fell to cosine 0.37-0.49 against their own frontal frame.
FACE_MATCHER_FRONTAL_DEG = 15.0


def face_matcher_compares(pose: HeadPose | None) -> bool:
    """The one rule for the frames the FaceMatcher compares: the estimator describes only these
    (when due), the FaceMatcher holds success back on them until one is described, and the decider
    takes no undescribed one as the best shot."""
    return pose is not None and max(abs(pose.yaw), abs(pose.pitch)) <= FACE_MATCHER_FRONTAL_DEG


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
