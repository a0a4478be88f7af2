"""The readers of ``P:plugin-events``, ``P:videos`` and ``P:dead:{stream}``: the admin's Plugin
events, Videos and Dead letters pages and ``vigil plugin-events`` / ``vigil videos``, on a real
Redis. Newest first, a bounded page at a time, whatever a client put in the text escaped."""

from __future__ import annotations

import re

import msgpack
import pytest
from quart import Quart
from redis.asyncio import Redis

from admin.app import create_app
from admin.config import AdminPolicy
from admin.paging import PAGE_SIZE
from infra.recent_command import plugin_events, printable, videos
from shared.bus import publish
from shared.dead_letters import DeadLetter
from shared.keys import Keys
from shared.messages import PluginEvent, SessionOutcome, VideoMessage
from shared.recent import newest
from shared.settings import Settings
from tests.admin_support import Browser, cheap_hasher, signed_in_administrator

MAXLEN = 10_000
HOSTILE = '<script>alert(1)</script>\x1b[2J "OBS"'  # a camera label is whatever the client says
OLDER = re.compile(r'href="(/plugin-events/\?before=[0-9-]+)"')
OLDER_LETTERS = re.compile(r'href="(/dead-letters/frames\?before=[0-9-]+)"')


def event(session_id: str, n: int, note: str = "virtual camera label") -> PluginEvent:
    return PluginEvent(session_id=session_id, frame_no=n, plugin="virtual_camera_checker", at=1_765_000_000.0 + n,
                       details={"virtual_label": 1.0}, note=note)


def video(session_id: str, storage: str, frames: int = 30) -> VideoMessage:
    return VideoMessage(session_id=session_id, path=f"{storage}/{session_id}.mp4", frame_count=frames, codec="H265",
                        duration_s=3.25, outcome=SessionOutcome.SUCCESS, skipped_frames=2)


@pytest.fixture
def app(settings: Settings, redis: Redis) -> Quart:
    return create_app(settings, redis, AdminPolicy(password_hasher=cheap_hasher()))


@pytest.fixture
async def admin(app: Quart) -> Browser:
    return await signed_in_administrator(app)


@pytest.mark.anyio
async def test_plugin_events_page_escapes_links_checked_ids_and_pages(admin: Browser, redis: Redis,
                                                                       keys: Keys) -> None:
    assert "No plugin has announced anything yet." in await admin.text("/plugin-events/")
    await publish(redis, keys.plugin_events, event("bad id<b>", 0, HOSTILE), maxlen=MAXLEN)
    for n in range(1, PAGE_SIZE + 6):
        await publish(redis, keys.plugin_events, event(f"session-{n:03d}", n), maxlen=MAXLEN)
    await redis.xadd(keys.plugin_events, {b"m": b"not msgpack"})  # the newest: counted, not shown

    first = await admin.text("/plugin-events/")
    assert first.count('href="/sessions/session-') == PAGE_SIZE - 1  # the undecodable entry took a place
    assert 'href="/sessions/session-055"' in first
    assert "1 entries of this page could not be read." in first
    assert "virtual_label=1" in first
    older = OLDER.search(first)
    assert older is not None
    second = await admin.text(older.group(1).replace("&amp;", "&"))
    assert 'href="/sessions/session-006"' in second
    assert 'href="/sessions/session-007"' not in second
    assert OLDER.search(second) is None  # the oldest page
    assert "<script>" not in second
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in second
    assert "bad id&lt;b&gt;" in second
    assert 'href="/sessions/bad' not in second  # an id no session page can have is not linked
    assert (await admin.get("/plugin-events/?before=1-0%27")).status_code == 400


@pytest.mark.anyio
async def test_videos_page_lists_builds_with_the_size_of_files_it_can_see(admin: Browser, redis: Redis, keys: Keys,
                                                                          settings: Settings) -> None:
    assert "No video has been built yet." in await admin.text("/videos/")
    storage = settings.video.storage
    storage.mkdir(parents=True)
    (storage / "kept.mp4").write_bytes(b"\0" * 3 * 1048576)
    for session_id in ("gone", "kept", "x<i>"):
        await publish(redis, keys.videos, video(session_id, str(storage)), maxlen=MAXLEN)
    page = await admin.text("/videos/")
    rows = page.split("<tbody>")[1].split("</tr>")
    expected = [  # newest first; only ids a session page can have are linked
        ("x&lt;i&gt;", "—"),
        ('href="/sessions/kept"', "3.00 MiB", "30 (2 skipped)", "3.2 s", "H265", "success"),
        ('href="/sessions/gone"', "—"),
    ]
    for row, fragments in zip(rows, expected, strict=False):
        for fragment in fragments:
            assert fragment in row, (fragment, row)
    assert 'href="/sessions/x' not in rows[0]


@pytest.mark.anyio
async def test_dead_letters_page_counts_each_stream_then_pages_one_escaped(admin: Browser, redis: Redis,
                                                                          keys: Keys) -> None:
    assert "No dead letters: every entry was processed." in await admin.text("/dead-letters/")
    await redis.xadd(keys.dead_letter(keys.decisions),
                     DeadLetter(keys.decisions, "7-0", "file_logger", "not msgpack", b"\xc1").fields())
    claimed = msgpack.packb({"t": "frame", "v": 1})  # what its payload says it is
    for n in range(PAGE_SIZE + 1):  # the oldest quotes what a client sent
        reason = HOSTILE if n == 0 else f"failed {n} deliveries"
        await redis.xadd(keys.dead_letter(keys.frames),
                         DeadLetter(keys.frames, f"{n + 1}-0", "estimator", reason, claimed).fields())

    listed = await admin.text("/dead-letters/")
    assert '<a class="mono" href="/dead-letters/decisions">decisions</a></td><td>1</td>' in listed
    assert f'<a class="mono" href="/dead-letters/frames">frames</a></td><td>{PAGE_SIZE + 1}</td>' in listed
    first = await admin.text("/dead-letters/frames")
    assert first.count("<tr>") == PAGE_SIZE + 1  # the header and a page of rows
    assert first.index(f"{PAGE_SIZE + 1}-0") < first.index(f"{PAGE_SIZE}-0")  # newest first
    assert "type &#39;frame&#39; v1" in first
    older = OLDER_LETTERS.search(first)
    assert older is not None
    second = await admin.text(older.group(1).replace("&amp;", "&"))
    assert (second.count("<tr>"), OLDER_LETTERS.search(second)) == (2, None)  # the oldest, alone
    assert "<script>" not in second
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in second
    assert "1 bytes, not msgpack" in await admin.text("/dead-letters/decisions")
    assert (await admin.get("/dead-letters/NOT%20A%20STREAM")).status_code == 404
    assert (await admin.get("/dead-letters/frames?before=x")).status_code == 400


@pytest.mark.anyio
async def test_the_commands_print_a_page_escaped_and_name_the_next(redis: Redis, keys: Keys) -> None:
    lines: list[str] = []
    await plugin_events(redis, keys, 5, None, lines.append)
    await videos(redis, keys, 5, None, lines.append)
    assert lines == ["no plugin events", "no videos"]

    await publish(redis, keys.plugin_events, event("s1", 1, HOSTILE), maxlen=MAXLEN)
    await publish(redis, keys.plugin_events, event("s2", 2), maxlen=MAXLEN)
    lines.clear()
    await plugin_events(redis, keys, 1, None, lines.append)
    assert lines[0].startswith("2025-12-06 05:46:42 s2 frame 2 virtual_camera_checker: virtual camera label")
    assert lines[1].startswith("older: vigil plugin-events --before ")
    before = lines[1].rpartition(" ")[2]
    lines.clear()
    await plugin_events(redis, keys, 1, before, lines.append)
    assert lines == ['2025-12-06 05:46:41 s1 frame 1 virtual_camera_checker: <script>alert(1)</script>\\x1b[2J "OBS" '
                     "[virtual_label=1]"]

    await publish(redis, keys.videos, video("s1", "/nowhere"), maxlen=MAXLEN)
    lines.clear()
    await videos(redis, keys, 5, None, lines.append)
    assert len(lines) == 1
    assert " s1 success H265 30 frames (2 skipped) 3.2 s (file not here) /nowhere/s1.mp4" in lines[0]


def test_printable_escapes_what_a_terminal_would_act_on() -> None:
    assert printable("ok é 名") == "ok é 名"
    assert printable("a\x1b]0;owned\x07b\nc\r") == "a\\x1b]0;owned\\x07b\\nc\\r"


@pytest.mark.anyio
async def test_a_page_is_bounded_and_its_cursor_checked(redis: Redis, keys: Keys) -> None:
    for n in range(3):
        await publish(redis, keys.plugin_events, event("s", n), maxlen=MAXLEN)
    page = await newest(redis, keys.plugin_events, PluginEvent, size=2)
    assert [item.message.frame_no for item in page.items] == [2, 1]
    assert page.older == page.items[-1].entry_id
    rest = await newest(redis, keys.plugin_events, PluginEvent, size=2, before=page.older)
    assert ([item.message.frame_no for item in rest.items], rest.older) == ([0], None)
    for bad in ("+", "1-0 ", "1-0\n", "\u0661-0", f"{2**64}-0"):
        with pytest.raises(ValueError, match="not a stream entry id"):
            await newest(redis, keys.plugin_events, PluginEvent, size=2, before=bad)
