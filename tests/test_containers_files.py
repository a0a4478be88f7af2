"""The container files, read without podman (`make test-containers` builds and runs them for real):
compose.yaml's variables are all documented in .env.example, its secrets have no default, the
VIGIL_* names it gives the services are settings they accept, and the build context leaves out
local data and secrets."""

from __future__ import annotations

import re

from shared.settings import Settings
from tests.stack import ROOT

COMPOSE = (ROOT / "compose.yaml").read_text(encoding="utf-8")
ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")
SECRETS = {"VIGIL_JWT__KEY", "REDIS_PASSWORD", "TLS_CERT", "TLS_KEY"}


def interpolated() -> dict[str, set[str]]:
    """Each ${NAME...} compose interpolates, with the operators it is used with (":-", ":?", "")."""
    found: dict[str, set[str]] = {}
    for name, operator in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:[-?])?", COMPOSE):
        found.setdefault(name, set()).add(operator)
    return found


def test_every_compose_variable_is_documented_in_env_example() -> None:
    documented = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE, flags=re.MULTILINE))
    assert set(interpolated()) <= documented, set(interpolated()) - documented
    assert documented <= set(interpolated()), documented - set(interpolated())


def test_secrets_have_no_default_and_stop_compose_when_missing() -> None:
    variables = interpolated()
    for secret in SECRETS:
        assert variables[secret] == {":?"}, f"{secret}: {variables[secret]}"
        assert re.search(rf"^{secret}=$", ENV_EXAMPLE, flags=re.MULTILINE), f"{secret} has a value in .env.example"


def test_the_services_accept_every_vigil_name_compose_gives_them() -> None:
    # load_settings refuses an unknown VIGIL_* group at start: the same rule here.
    groups = {name.upper() for name in Settings.model_fields}
    names = set(re.findall(r"^\s+(VIGIL_[A-Z0-9_]+):", COMPOSE, flags=re.MULTILINE))
    assert names
    unknown = {name for name in names if name.removeprefix("VIGIL_").split("__")[0] not in groups}
    assert not unknown, unknown


def test_the_build_context_leaves_out_local_data_and_secrets() -> None:
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").split())
    assert {"var/", ".venv/", ".env", "**/*.key", "**/*.pem", ".git/"} <= ignored
