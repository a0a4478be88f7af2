"""Settings: names and groups, unknown keys rejected, no default secret in production."""

from __future__ import annotations

import pytest

from shared.errors import ConfigError
from shared.settings import ENV_PREFIX, Env, MultifacePolicy, load_settings

# A key as `secrets.token_urlsafe(32)` makes one (fixed here so the test repeats).
GOOD_KEY = "q3Jx9vT0bN7LwR2yZk5HcP8sA1mE4uGdFi6oVtYj-_Q"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)


def test_defaults_follow_the_baseline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_JWT__KEY", GOOD_KEY)
    settings = load_settings()
    assert settings.env is Env.PRODUCTION
    assert settings.ingress.port == 8321
    assert settings.admin.port == 8322
    assert settings.jwt.algorithm == "HS256"
    assert (settings.session.max_attempts, settings.session.max_liveness_attempts) == (50, 40)
    assert settings.session.aggregate_frames == 5
    assert settings.session.previous_face_similarity == 0.85
    assert settings.session.multiface_policy is MultifacePolicy.ONLY_ONE
    assert settings.video.codec == "H265"
    assert settings.thresholds.blur == 0.61


def test_nested_values_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_ENV", "development")
    monkeypatch.setenv("VIGIL_SESSION__MAX_ATTEMPTS", "7")
    monkeypatch.setenv("VIGIL_ROI__CENTER_X", "0.4")
    monkeypatch.setenv("VIGIL_THRESHOLDS__YAW", "null")
    monkeypatch.setenv("VIGIL_ACTIVE_LIVENESS__IS_ENABLED", "false")
    monkeypatch.setenv("VIGIL_VIDEO__CODEC", "VP9")
    settings = load_settings()
    assert settings.session.max_attempts == 7
    assert settings.roi.center_x == 0.4
    assert settings.thresholds.yaw is None
    assert settings.active_liveness.is_enabled is False
    assert settings.video.codec == "VP9"


@pytest.mark.parametrize("name", ["VIGIL_SESSION__MAX_ATTEMPTZ", "VIGIL_NOPE", "VIGIL_ROI__DEPTH"])
def test_unknown_keys_are_rejected(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("VIGIL_ENV", "development")
    monkeypatch.setenv(name, "1")
    with pytest.raises(ConfigError):
        load_settings()


def test_invalid_value_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_ENV", "development")
    monkeypatch.setenv("VIGIL_INGRESS__PORT", "99999")
    with pytest.raises(ConfigError):
        load_settings()


@pytest.mark.parametrize(("key", "why"), [
    (None, ""), ("secret", ""), ("short-secret-value", ""), (" " * 32, "whitespace"), ("k" * 40, "repeats"),
    ("password" * 4, "bits estimated"), (GOOD_KEY[:20] + " " + GOOD_KEY[20:], "whitespace"),
])
def test_production_refuses_missing_or_weak_jwt_key(monkeypatch: pytest.MonkeyPatch, key: str | None,
                                                     why: str) -> None:
    if key is not None:
        monkeypatch.setenv("VIGIL_JWT__KEY", key)
    with pytest.raises(ConfigError, match="VIGIL_JWT__KEY") as caught:
        load_settings()
    assert why in str(caught.value)
    if key and len(key.strip()) > len("secret"):  # "secret" is also a word of the message itself
        assert key not in str(caught.value)


def test_random_hex_and_urlsafe_keys_pass_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    import secrets

    for key in (secrets.token_hex(32), secrets.token_urlsafe(32)):
        monkeypatch.setenv("VIGIL_JWT__KEY", key)
        assert load_settings().jwt.key is not None


@pytest.mark.parametrize(("name", "value", "named"), [
    ("VIGIL_JWT__KEY", "s3cr3t-but-too-short", "VIGIL_JWT__KEY"),
    ("VIGIL_JWT__RESULTS_KEY", "rp-key-rp-key-rp-key", "VIGIL_JWT__RESULTS_KEY"),
    ("VIGIL_JWT__TTL_S", "-7", "VIGIL_JWT__TTL_S"),
    ("VIGIL_JWT__AUDIENCE", '["rp", 17]', "VIGIL_JWT__AUDIENCE"),
    ("VIGIL_THRESHOLDS__GLASSES", "[not json", "VIGIL_THRESHOLDS"),
])
def test_settings_errors_name_the_setting_and_never_echo_the_value(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str) -> None:
    monkeypatch.setenv("VIGIL_JWT__KEY", GOOD_KEY)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert named in message
    assert value not in message
    assert GOOD_KEY not in message
    assert "input_value" not in message


def test_asymmetric_algorithm_needs_a_private_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_ENV", "development")
    monkeypatch.setenv("VIGIL_JWT__ALGORITHM", "ES256")
    with pytest.raises(ConfigError, match="PRIVATE_KEY_FILE"):
        load_settings()
