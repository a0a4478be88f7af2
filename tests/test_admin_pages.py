"""Admin panel pages: UI configs (CRUD, validation, delete confirmation, view site), statistics
and sessions drawn from streams filled here, settings without secrets, the theme switch."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from pydantic import SecretStr
from quart import Quart
from redis.asyncio import Redis

from admin.accounts import Section
from admin.app import create_app
from admin.config import AdminPolicy
from admin.stats import Period, compute
from services.decider.state import AuditEvent, AuditKind, WindowFrame
from shared.errors import FrameCheck
from shared.keys import Keys
from shared.messages import ReplyKind, ReplyMessage, SessionEnd, SessionEvent, SessionOutcome, encode
from shared.settings import JwtSettings, Settings
from shared.stored import from_stored_json
from shared.ui_config import UiConfig
from tests.admin_support import Browser, add_user, cheap_hasher, signed_in_administrator

PASSWORD = "correct horse battery"
CONFIG = {"name": "shop", "redirect_url": "https://shop.example/done", "mode": "operator", "image_width": "800",
          "image_height": "600", "video_width": "1280", "video_height": "720", "success_message": "Thank you!",
          "message_10": "Hold the phone still", "styles": "button { color: red; }",
          "audience": "https://shop.example"}


@pytest.fixture
def app(settings: Settings, redis: Redis) -> Quart:
    return create_app(settings, redis, AdminPolicy(password_hasher=cheap_hasher()))


@pytest.fixture
async def admin(app: Quart) -> Browser:
    return await signed_in_administrator(app, password=PASSWORD)


async def stored(redis: Redis, keys: Keys) -> dict[str, UiConfig]:
    raw = await redis.hgetall(keys.ui_configs)  # type: ignore[misc]
    return {name.decode(): from_stored_json(UiConfig, value) for name, value in raw.items()}


@pytest.mark.anyio
async def test_ui_config_create_list_and_view_site(admin: Browser, redis: Redis, keys: Keys) -> None:
    assert "No configs yet." in await admin.text("/ui-configs/")
    form = await admin.text("/ui-configs/new")
    assert 'name="image_width" value="640"' in form
    assert "Error messages per code" in form
    response = await admin.post("/ui-configs/new", CONFIG)
    assert (response.status_code, response.location) == (302, "/ui-configs/?done=created&names=shop")
    config = (await stored(redis, keys))["shop"]
    assert (config.image_width, config.video_height, config.mode.value) == (800, 720, "operator")
    assert config.error_messages == {"10": "Hold the phone still"}
    assert config.success_message == "Thank you!"
    assert config.audience == "https://shop.example"  # the JWT aud of sessions from this page
    assert config.start_button_text is None
    assert str(config.redirect_url) == "https://shop.example/done"
    listing = await admin.text(response.location)
    assert "Created shop." in listing
    assert 'href="http://127.0.0.1:8321/?cn=shop"' in listing
    assert "View site" in listing
    again = await admin.post("/ui-configs/new", CONFIG)
    assert again.status_code == 400
    assert "exists already" in await again.get_data(as_text=True)


@pytest.mark.anyio
async def test_ui_config_validation_errors_are_shown_and_nothing_is_stored(
    admin: Browser, redis: Redis, keys: Keys,
) -> None:
    bad = {**CONFIG, "name": "bad name!", "image_width": "100", "video_height": "tall",
           "redirect_url": "not a url", "styles": "</style><script>alert(1)</script>"}
    response = await admin.post("/ui-configs/new", bad)
    page = await response.get_data(as_text=True)
    assert response.status_code == 400
    for message in ("a config name is 1-64 letters", "greater than or equal to 160", "valid integer",
                    "URL", "styles are CSS only"):
        assert message in page, message
    assert "<script>alert(1)</script>" not in page  # the entered text comes back escaped
    assert 'value="100"' in page  # and the form keeps what was typed
    assert await stored(redis, keys) == {}


@pytest.mark.anyio
async def test_ui_config_edit(admin: Browser, redis: Redis, keys: Keys) -> None:
    await admin.post("/ui-configs/new", CONFIG)
    form = await admin.text("/ui-configs/shop/edit")
    assert 'value="Hold the phone still"' in form
    assert "Edit UI config shop" in form
    changed = {**CONFIG, "success_message": "Done, thanks", "message_10": "", "message_12": "Too dark here",
               "name": "renamed"}
    response = await admin.post("/ui-configs/shop/edit", changed, page="/ui-configs/shop/edit")
    assert response.status_code == 302
    config = (await stored(redis, keys))["shop"]  # the name stays: it is the key
    assert config.success_message == "Done, thanks"
    assert config.error_messages == {"12": "Too dark here"}
    invalid = await admin.post("/ui-configs/shop/edit", {**CONFIG, "image_height": "5000"})
    assert invalid.status_code == 400
    assert (await stored(redis, keys))["shop"].image_height == 600
    assert (await admin.get("/ui-configs/nothing/edit")).status_code == 404
    actions = await admin.context.actions.latest()
    assert actions[0].verb.value == "updated"
    assert "error_messages" in actions[0].detail


@pytest.mark.anyio
async def test_ui_config_delete_selected_after_confirmation(admin: Browser, redis: Redis, keys: Keys) -> None:
    for name in ("one", "two", "three"):
        await admin.post("/ui-configs/new", {**CONFIG, "name": name})
    confirm = await admin.post("/ui-configs/delete", {"selected": ["one", "three", "ghost"]})
    page = await confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "Yes, I'm sure" in page
    assert 'href="/ui-configs/">No, take me back' in page
    assert "<li>one</li>" in page
    assert "<li>three</li>" in page
    assert "ghost" not in page
    assert set(await stored(redis, keys)) == {"one", "two", "three"}  # nothing deleted before "yes"
    done = await admin.post("/ui-configs/delete", {"selected": ["one", "three"], "confirm": "yes"})
    assert done.location == "/ui-configs/?done=deleted&names=one,three"
    assert set(await stored(redis, keys)) == {"two"}
    assert "Deleted one, three." in await admin.text(done.location)
    nothing = await admin.post("/ui-configs/delete", {})
    assert "Select the configs to delete first." in await admin.text(nothing.location)


@pytest.mark.anyio
async def test_an_invalid_stored_config_is_listed_and_can_be_deleted(admin: Browser, redis: Redis, keys: Keys) -> None:
    await redis.hset(keys.ui_configs, "old", '{"name": "old", "colour": "red"}')  # type: ignore[misc]
    assert "stored JSON is not a valid config" in await admin.text("/ui-configs/")
    assert (await admin.get("/ui-configs/old/edit")).status_code == 409
    await admin.post("/ui-configs/delete", {"selected": ["old"], "confirm": "yes"})
    assert not await redis.hexists(keys.ui_configs, "old")  # type: ignore[misc]


def reply(session: str, frame_no: int, *, errors: tuple[FrameCheck, ...] = (), end: SessionEnd | None = None,
          jwt_id: str | None = None) -> ReplyMessage:
    kind = ReplyKind.SUCCESS if end is SessionEnd.SUCCESS else ReplyKind.STATS
    return ReplyMessage(session_id=session, request_id=f"r{frame_no}", frame_no=frame_no, kind=kind, errors=errors,
                        end=end, jwt_id=jwt_id)


async def fill_streams(redis: Redis, keys: Keys) -> list[str]:
    """Three completed sessions (two successes, one failure) and one dropped, with their decisions."""
    now = time.time()
    ids = [str(uuid.uuid4()) for _ in range(4)]
    events = [
        SessionEvent(session_id=ids[0], outcome=SessionOutcome.SUCCESS, at=now - 5, frames=4, jwt_id="jwt-0"),
        SessionEvent(session_id=ids[1], outcome=SessionOutcome.SUCCESS, at=now - 4, frames=12, jwt_id="jwt-1"),
        SessionEvent(session_id=ids[2], outcome=SessionOutcome.FAILED, at=now - 3, frames=30),
        SessionEvent(session_id=ids[2], outcome=SessionOutcome.FAILED, at=now - 3, frames=30),  # delivered twice
        SessionEvent(session_id=ids[3], outcome=SessionOutcome.DISCONNECTED, at=now - 2, frames=2),
    ]
    replies = [
        reply(ids[0], 1, errors=(FrameCheck.BLURRED,)), reply(ids[0], 2, errors=(FrameCheck.ACTION_BLINK,)),
        reply(ids[0], 4, end=SessionEnd.SUCCESS, jwt_id="jwt-0"),
        reply(ids[2], 1, errors=(FrameCheck.BLURRED, FrameCheck.DARK)),
        reply(ids[2], 30, errors=(FrameCheck.DARK,), end=SessionEnd.MAX_ATTEMPTS),
    ]
    for event in events:
        await redis.xadd(keys.session_events, encode(event))  # type: ignore[arg-type]
    for answer in replies:
        await redis.xadd(keys.decisions, encode(answer))  # type: ignore[arg-type]
    await redis.xadd(keys.decisions, {b"m": b"\xc1 not msgpack"})
    return ids


@pytest.mark.anyio
async def test_statistics_page_draws_the_streams(admin: Browser, redis: Redis, keys: Keys) -> None:
    await fill_streams(redis, keys)
    for period in ("day", "week"):
        response = await admin.get(f"/statistics/?period={period}")
        page = await response.get_data(as_text=True)
        assert response.status_code == 200
        assert page.count("<svg") == 8  # 5 charts, then stage times, round trip, session duration
        assert '<p class="big">3</p>' in page  # completed: the dropped one and the duplicate do not count
        assert "Share of successes: 67%" in page
        assert "blurred (10)" in page
        assert "dark (12)" in page
        assert "action blink" not in page
        assert "max attempts" in page
        assert "1 stream entries could not be read" in page
    assert "Completed sessions per hour" in await admin.text("/statistics/")
    assert "Completed sessions per day" in await admin.text("/statistics/?period=week")


def test_statistics_bins_and_mix() -> None:
    now = 1_700_000_000.0  # 22:13:20 UTC
    events = [
        SessionEvent(session_id="a", outcome=SessionOutcome.SUCCESS, at=now - 60, frames=3),
        SessionEvent(session_id="b", outcome=SessionOutcome.FAILED, at=now - 3600, frames=8),
        SessionEvent(session_id="c", outcome=SessionOutcome.SUCCESS, at=now - 5 * 3600, frames=60),
        SessionEvent(session_id="old", outcome=SessionOutcome.SUCCESS, at=now - 30 * 3600, frames=1),
    ]
    replies = [reply("b", 1, errors=(FrameCheck.NO_FACE,)), reply("b", 1, errors=(FrameCheck.NO_FACE,)),
               reply("b", 8, errors=(FrameCheck.LIVENESS_FAILED,), end=SessionEnd.MARKED_FAKE)]
    stats = compute(events, replies, now, Period.DAY)
    assert len(stats.labels) == 24
    assert stats.labels[-1] == "22:00"
    assert stats.labels[0] == "23:00"
    assert stats.successes[-1] == 1
    assert stats.failures[-2] == 1
    assert stats.successes[-6] == 1
    assert stats.completed == 3
    assert stats.success_share == pytest.approx(2 / 3)
    assert dict(stats.failed_checks) == {"no face (1)": 1, "liveness failed (70)": 1}  # duplicates once
    assert dict(stats.end_reasons) == {"marked fake": 1}
    assert dict(stats.frames) == {"1-5": 1, "6-10": 1, "11-20": 0, "21-50": 0, "51-100": 1, "101+": 0}
    assert stats.frames_median == 8
    week = compute(events, replies, now, Period.WEEK)
    assert len(week.labels) == 7
    assert week.completed == 4
    empty = compute([], [], now, Period.DAY)
    assert empty.success_share is None
    assert empty.frames_median is None


@pytest.mark.anyio
async def test_sessions_list_and_a_session_rebuilt_from_its_audit_stream(
    admin: Browser, redis: Redis, keys: Keys,
) -> None:
    ids = await fill_streams(redis, keys)
    listing = await admin.text("/sessions/")
    for session_id in ids:
        assert f'href="/sessions/{session_id}"' in listing
    assert listing.count(f'href="/sessions/{ids[2]}"') == 1
    assert "jwt-1" in listing
    now = time.time()
    audit = [
        AuditEvent(session_id=ids[0], frame_no=1, at=now - 9, kind=AuditKind.FRAME, codes=(FrameCheck.BLURRED,),
                   plugins={"face_matcher": "pass"}),
        AuditEvent(session_id=ids[0], frame_no=2, at=now - 8, kind=AuditKind.FRAME,
                   window_frame=WindowFrame(frame_no=2, liveness=0.9), plugins={"active_liveness": "pending"}),
        AuditEvent(session_id=ids[0], frame_no=2, at=now - 8, kind=AuditKind.BESTSHOT, shot_score=0.75),
        AuditEvent(session_id=ids[0], frame_no=4, at=now - 6, kind=AuditKind.ENDED, end=SessionEnd.SUCCESS,
                   jwt_id="jwt-0"),
    ]
    for event in audit:
        await redis.xadd(keys.audit(ids[0]), encode(event))  # type: ignore[arg-type]
    page = await admin.text(f"/sessions/{ids[0]}")
    assert "blurred (10)" in page
    assert "face_matcher: pass" in page
    assert "active_liveness: pending" in page
    assert "in window" in page
    assert "score 0.750" in page
    assert "Frames decided</dt><dd>2" in page
    assert '<dd class="mono">jwt-0</dd>' in page
    # A session whose audit has expired still shows what its events say.
    expired = await admin.text(f"/sessions/{ids[2]}")
    assert "has expired" in expired
    assert "failed" in expired
    assert (await admin.get(f"/sessions/{uuid.uuid4()}")).status_code == 404
    assert (await admin.get("/sessions/..%2F..%2Fetc")).status_code == 404


@pytest.mark.anyio
async def test_settings_page_never_shows_secrets(redis: Redis, settings: Settings) -> None:
    secret = "s3cret-value-that-must-not-leak-0123456789"
    jwt = JwtSettings(key=SecretStr(secret))
    url = "redis://:redis-password@127.0.0.1:1/0"
    with_secret = settings.model_copy(update={"jwt": jwt, "redis": settings.redis.model_copy(update={"url": url})})
    app = create_app(with_secret, redis, AdminPolicy(password_hasher=cheap_hasher()))
    browser = Browser(app)
    await add_user(browser.context, "root", PASSWORD, tuple(Section))
    await browser.signin("root", PASSWORD)
    page = await browser.text("/settings/")
    assert "max_attempts" in page
    assert "key_file" in page
    assert secret not in page
    assert "redis-password" not in page
    assert "(set, hidden)" in page


@pytest.mark.anyio
async def test_theme_switch_and_security_headers(app: Quart) -> None:
    browser = Browser(app)
    page = await browser.get("/signin")
    assert 'data-theme=""' in await page.get_data(as_text=True)
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"
    response = await browser.post("/theme", {"theme": "dark", "back": "/signin"})
    assert response.location == "/signin"
    assert 'data-theme="dark"' in await browser.text("/signin")
    assert (await browser.post("/theme", {"theme": "light", "back": "https://evil.example"})).location == "/"
    assert 'data-theme="light"' in await browser.text("/signin")


@pytest.mark.anyio
async def test_a_session_page_plays_its_video_and_offers_its_frames(
    admin: Browser, settings: Settings, data_dir: Path,
) -> None:
    import io

    import av
    from PIL import Image

    from tests import media

    session_id = str(uuid.uuid4())
    portrait = media.photo(data_dir, media.NEUTRAL_FACE).resize((320, 320))
    settings.video.storage.mkdir(parents=True, exist_ok=True)
    with av.open(str(settings.video.storage / f"{session_id}.mp4"), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 320, "yuv420p"
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_image(portrait)))  # type: ignore[no-untyped-call]
        container.mux(stream.encode(None))
    folder = settings.file_logger.path / session_id
    folder.mkdir(parents=True)
    (folder / "00001.jpg").write_bytes(media.jpeg(portrait))
    event = SessionEvent(session_id=session_id, outcome=SessionOutcome.SUCCESS, at=time.time(), frames=1)
    await admin.context.redis.xadd(admin.context.keys.session_events, encode(event))  # type: ignore[arg-type]

    page = await admin.text(f"/sessions/{session_id}")
    assert f'src="/sessions/{session_id}/video"' in page
    assert "00001.jpg" in page
    played = await admin.get(f"/sessions/{session_id}/video")
    assert played.status_code == 200
    assert played.mimetype == "video/mp4"
    assert (await played.get_data())[4:8] == b"ftyp"
    downloaded = await admin.get(f"/sessions/{session_id}/frames/00001.jpg")
    assert downloaded.status_code == 200
    assert Image.open(io.BytesIO(await downloaded.get_data(as_text=False))).size == (320, 320)
    for bad in ("..%2F..%2Fetc%2Fpasswd", "00002.jpg", "passwd"):
        assert (await admin.get(f"/sessions/{session_id}/frames/{bad}")).status_code == 404
    assert (await admin.get(f"/sessions/{uuid.uuid4()}/video")).status_code == 404
