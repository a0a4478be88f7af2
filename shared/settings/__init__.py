"""Settings: one object per process, built once in ``main()`` and passed down.

Every value comes from ``VIGIL_*`` environment variables (nested groups with ``__``, e.g.
``VIGIL_SESSION__MAX_ATTEMPTS=30``). Groups and names follow the baseline administrator guide's
tables (11-17) so an operator who knows that guide finds them. Unknown keys are rejected, in
groups and at the top level. ``docs/settings.md`` lists every setting with its default.

One module per family of groups (shared/settings/: runtime, front, checks, workers, on the group base
of base.py); every name is importable from ``shared.settings`` as before.
"""

from __future__ import annotations

import os
from typing import Self

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.client_address import ProxySettings
from shared.errors import ConfigError
from shared.secrets_rules import describe, describe_parse_error, weak_key
from shared.settings.base import ENV_PREFIX, Env, Group
from shared.settings.checks import (
    MAX_TIME_SCALE,
    ActiveLivenessSettings,
    Interaction,
    LightChallengeSettings,
    MultifacePolicy,
    RoiSettings,
    SessionSettings,
    ThresholdSettings,
)
from shared.settings.front import (
    ORIGIN_PATTERN,
    AbuseSettings,
    AdminSettings,
    AdmissionSettings,
    IngressSettings,
    JwtSettings,
)
from shared.settings.runtime import BusSettings, LoggingSettings, MetricsSettings, RedisSettings
from shared.settings.workers import (
    DeciderSettings,
    EstimatorSettings,
    FileLoggerSettings,
    OnnxEvidenceSettings,
    PluginsSettings,
    VideoRedisSettings,
    VideoSettings,
    VirtualCameraCheckerSettings,
)

__all__ = [
    "ENV_PREFIX",
    "INSECURE_KEYS",
    "MAX_TIME_SCALE",
    "ORIGIN_PATTERN",
    "AbuseSettings",
    "ActiveLivenessSettings",
    "AdminSettings",
    "AdmissionSettings",
    "BusSettings",
    "DeciderSettings",
    "Env",
    "EstimatorSettings",
    "FileLoggerSettings",
    "Group",
    "IngressSettings",
    "Interaction",
    "JwtSettings",
    "LightChallengeSettings",
    "LoggingSettings",
    "MetricsSettings",
    "MultifacePolicy",
    "OnnxEvidenceSettings",
    "PluginsSettings",
    "ProxySettings",
    "RedisSettings",
    "RoiSettings",
    "SessionSettings",
    "Settings",
    "ThresholdSettings",
    "VideoRedisSettings",
    "VideoSettings",
    "VirtualCameraCheckerSettings",
    "load_settings",
]

INSECURE_KEYS = frozenset({"", "secret", "changeme", "change-me", "password"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True,
        case_sensitive=False, env_parse_none_str="null",
    )

    env: Env = Field(Env.PRODUCTION, description=(
        "production refuses to start without a JWT key; development generates one, and replies carry the scores."))
    config_tag: str = Field("default", pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$", description=(
        "Which stored live settings this process applies on top of its environment (shared/live_config.py); "
        "an ingress stamps it on every frame, so the frame is decided with that tag's settings."))
    redis: RedisSettings = RedisSettings()
    ingress: IngressSettings = IngressSettings()
    admission: AdmissionSettings = AdmissionSettings()
    admin: AdminSettings = AdminSettings()
    proxy: ProxySettings = ProxySettings()
    abuse: AbuseSettings = AbuseSettings()
    jwt: JwtSettings = JwtSettings()
    session: SessionSettings = SessionSettings()
    roi: RoiSettings = RoiSettings()
    thresholds: ThresholdSettings = ThresholdSettings()
    active_liveness: ActiveLivenessSettings = ActiveLivenessSettings()
    light_challenge: LightChallengeSettings = LightChallengeSettings()
    virtual_camera_checker: VirtualCameraCheckerSettings = VirtualCameraCheckerSettings()
    file_logger: FileLoggerSettings = FileLoggerSettings()
    video_redis: VideoRedisSettings = VideoRedisSettings()
    video: VideoSettings = VideoSettings()
    decider: DeciderSettings = DeciderSettings()
    plugins: PluginsSettings = PluginsSettings()
    estimator: EstimatorSettings = EstimatorSettings()
    bus: BusSettings = BusSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()

    @model_validator(mode="after")
    def _secure_in_production(self) -> Self:
        if not self.jwt.algorithm.startswith("HS") and self.jwt.private_key_file is None:
            raise ValueError(f"VIGIL_JWT__ALGORITHM={self.jwt.algorithm} needs VIGIL_JWT__PRIVATE_KEY_FILE")
        if self.env is Env.PRODUCTION and self.jwt.algorithm.startswith("HS"):
            key = self.jwt.key.get_secret_value() if self.jwt.key else ""
            problem = weak_key(key) if len(key) >= 32 else None  # says the rule, never the key
            if key.lower() in INSECURE_KEYS or len(key) < 32 or problem:
                raise ValueError(
                    "production mode needs VIGIL_JWT__KEY set to a random secret of at least 32 characters"
                    f"{f' ({problem})' if problem else ''} (or set VIGIL_ENV=development)"
                )
        results_key = self.jwt.results_key.get_secret_value() if self.jwt.results_key else None
        if self.env is Env.PRODUCTION and results_key is not None and (problem := weak_key(results_key)):
            raise ValueError(f"VIGIL_JWT__RESULTS_KEY is too weak for production ({problem})")
        return self


def load_settings() -> Settings:
    """Build the process's settings from the environment; unknown ``VIGIL_*`` keys are errors."""
    known = {name.upper() for name in Settings.model_fields}
    unknown = sorted(
        key for key in os.environ
        if key.upper().startswith(ENV_PREFIX)
        and key.upper()[len(ENV_PREFIX):].split("__")[0] not in known
    )
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(unknown)}")
    try:
        return Settings()
    except ValidationError as exc:
        # Never str(exc): pydantic echoes the input, and the input may be a secret.
        raise ConfigError(describe(exc, Settings)) from None
    except ValueError as exc:  # pydantic-settings' parse error (not JSON) names the group only
        raise ConfigError(describe_parse_error(exc)) from None
