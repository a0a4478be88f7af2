"""What every group of settings shares: the variables' prefix, the group base (frozen, unknown
keys rejected) and the deployment mode."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

ENV_PREFIX = "VIGIL_"


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Env(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
