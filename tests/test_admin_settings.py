"""The admin panel's live settings: forms generated from the settings models, validation before
saving, versions, tags, what is stored (only what differs from the layer beneath), the recent
actions, and who may edit."""

from __future__ import annotations

import re

import pytest
from quart import Quart
from redis.asyncio import Redis

from admin.accounts import Section
from admin.app import create_app
from admin.config import AdminPolicy
from shared.keys import Keys
from shared.live_config import ConfigStore, StoredConfig
from shared.settings import Settings
from tests.admin_support import Browser, add_user, cheap_hasher, signed_in_administrator

PASSWORD = "correct horse battery"


@pytest.fixture
def app(settings: Settings, redis: Redis) -> Quart:
    return create_app(settings, redis, AdminPolicy(password_hasher=cheap_hasher()))


@pytest.fixture
async def admin(app: Quart) -> Browser:
    return await signed_in_administrator(app, password=PASSWORD)


def form_values(page: str) -> dict[str, str | list[str]]:
    """What a browser would send back from a settings form untouched: inputs, checked boxes, selections."""
    values: dict[str, str | list[str]] = dict(
        re.findall(r'<input type="(?:number" step="any|text)" name="([a-z_]+)" value="([^"]*)"', page))
    for name, value in re.findall(r'<input type="checkbox" name="([a-z_]+)" value="([^"]*)" checked>', page):
        listed = values.setdefault(name, [])
        assert isinstance(listed, list)
        listed.append(value)
    for name in re.findall(r'<input type="checkbox" name="([a-z_]+)" checked>', page):
        values[name] = "on"
    for name, options in re.findall(r'<select name="([a-z_]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', options)
        if chosen:
            values[name] = chosen.group(1)
    return values


async def stored(redis: Redis, keys: Keys, tag: str = "default") -> StoredConfig:
    return await ConfigStore(redis, keys).load(tag)


@pytest.mark.anyio
async def test_a_threshold_is_validated_saved_with_a_version_and_shown(
    admin: Browser, redis: Redis, keys: Keys, settings: Settings,
) -> None:
    page = await admin.text("/settings/default/thresholds")
    values = form_values(page)
    assert values["yaw"] == "25.0"
    assert values["ags"] == "0.5"
    assert 'name="version" value="0"' in page
    assert "Minimum distance in px from the face box to each frame border" in page  # its Field(description=...)
    # Only the changed field is stored, as a number.
    response = await admin.post("/settings/default/thresholds", {**values, "yaw": "12", "version": "0"},
                                page="/settings/default/thresholds")
    assert response.status_code == 302
    assert response.location == "/settings/?tag=default&done=saved&names=thresholds"
    config = await stored(redis, keys)
    assert (config.version, config.overrides, config.updated_by) == (1, {"thresholds": {"yaw": 12.0}}, "root")
    overview = await admin.text("/settings/?tag=default")
    assert "changed" in overview
    assert "version 1" in overview
    home = await admin.text("/")
    assert "default/thresholds" in home
    assert "yaw=12.0" in home
    # An invalid value: 400, the field named, nothing written.
    bad = await admin.post("/settings/default/thresholds", {**values, "yaw": "wide", "version": "1"},
                           page="/settings/default/thresholds")
    assert bad.status_code == 400
    assert "Nothing was saved" in await bad.get_data(as_text=True)
    assert (await stored(redis, keys)).version == 1
    # A stale form (version 0) cannot overwrite version 1.
    stale = await admin.post("/settings/default/thresholds", {**values, "yaw": "40", "version": "0"},
                             page="/settings/default/thresholds")
    assert stale.status_code == 409
    assert (await stored(redis, keys)).overrides == {"thresholds": {"yaw": 12.0}}
    # An optional field left empty turns its check off (None); reset drops the group's overrides.
    await admin.post("/settings/default/thresholds", {**values, "yaw": "12", "ags": "", "version": "1"},
                     page="/settings/default/thresholds")
    assert (await stored(redis, keys)).overrides == {"thresholds": {"yaw": 12.0, "ags": None}}
    await admin.post("/settings/default/thresholds", {"reset": "1", "version": "2"},
                     page="/settings/default/thresholds")
    assert (await stored(redis, keys)).overrides == {}


@pytest.mark.anyio
async def test_checkboxes_choices_and_cross_field_validation(admin: Browser, redis: Redis, keys: Keys) -> None:
    page = await admin.text("/settings/default/active_liveness")
    assert 'name="interaction_list" value="blink" checked' in page
    assert 'name="interaction_list" value="smile">' in page
    values = form_values(page)
    assert values.pop("is_enabled") == "on"
    # is_enabled unchecked (absent), two interactions chosen, order fixed.
    fields = {**values, "interaction_list": ["blink", "smile"], "interaction_order": "fixed",
              "interaction_count": "2", "version": "0"}
    response = await admin.post("/settings/default/active_liveness", fields, page="/settings/default/active_liveness")
    assert response.status_code == 302
    override = (await stored(redis, keys)).overrides["active_liveness"]
    assert override == {"is_enabled": False, "interaction_list": ["blink", "smile"], "interaction_order": "fixed"}
    # The group's own rule (count <= list) is checked before saving.
    refused = await admin.post("/settings/default/active_liveness", {**fields, "interaction_count": "3",
                                                                     "version": "1"},
                               page="/settings/default/active_liveness")
    assert refused.status_code == 400
    assert "interaction_count exceeds" in await refused.get_data(as_text=True)
    session = await admin.text("/settings/default/session")
    assert '<option value="1">1 largest</option>' in session  # multiface_policy, an integer enum
    saved = await admin.post("/settings/default/session", {**form_values(session), "multiface_policy": "1",
                                                           "version": "1"}, page="/settings/default/session")
    assert saved.status_code == 302
    assert (await stored(redis, keys)).overrides["session"] == {"multiface_policy": 1}


@pytest.mark.anyio
async def test_tags_layer_on_default(admin: Browser, redis: Redis, keys: Keys) -> None:
    created = await admin.post("/settings/tag", {"tag": "kiosk"}, page="/settings/")
    assert created.location == "/settings/?tag=kiosk"
    assert (await admin.post("/settings/tag", {"tag": "../x"}, page="/settings/")).status_code == 400
    default_form = form_values(await admin.text("/settings/default/session"))
    await admin.post("/settings/default/session", {**default_form, "aggregate_frames": "7", "version": "0"},
                     page="/settings/default/session")
    kiosk = await admin.text("/settings/kiosk/session")
    assert form_values(kiosk)["aggregate_frames"] == "7"  # inherited from default
    await admin.post("/settings/kiosk/session", {**form_values(kiosk), "aggregate_frames": "3", "version": "0"},
                     page="/settings/kiosk/session")
    assert (await stored(redis, keys, "kiosk")).overrides == {"session": {"aggregate_frames": 3}}
    assert (await stored(redis, keys)).overrides == {"session": {"aggregate_frames": 7}}
    assert "kiosk" in await admin.text("/settings/")
    # Setting the tag's value back to what default has removes the tag's override.
    await admin.post("/settings/kiosk/session", {**form_values(kiosk), "aggregate_frames": "7", "version": "1"},
                     page="/settings/kiosk/session")
    assert (await stored(redis, keys, "kiosk")).overrides == {}


@pytest.mark.anyio
async def test_restart_only_groups_and_secrets_are_not_editable(admin: Browser) -> None:
    assert (await admin.get("/settings/default/redis")).status_code == 404
    assert (await admin.get("/settings/default/estimator")).status_code == 404
    assert (await admin.get("/settings/Bad!/thresholds")).status_code == 404
    jwt = await admin.text("/settings/default/jwt")
    assert 'name="algorithm"' in jwt
    assert 'name="key"' not in jwt
    assert 'name="key_file"' not in jwt
    assert 'name="private_key_file"' not in jwt


@pytest.mark.anyio
async def test_only_the_settings_section_may_edit(app: Quart, admin: Browser) -> None:
    await admin.post("/groups/new", {"name": "viewers", "sections": ["statistics"]}, page="/groups/new")
    await add_user(admin.context, "viewer", PASSWORD, (Section.STATISTICS,))
    viewer = Browser(app, address="127.0.0.2")
    await viewer.signin("viewer", PASSWORD)
    assert (await viewer.get("/settings/default/thresholds")).status_code == 403
    response = await viewer.post("/settings/default/thresholds", {"yaw": "1", "version": "0"},
                                 page="/statistics/")
    assert response.status_code == 403
