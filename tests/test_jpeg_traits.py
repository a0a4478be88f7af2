"""JPEG traits of the encoder behind a frame (services/plugins/builtins/jpeg_traits.py), with real
encoders on real media: Chromium's canvas (what the check page sends), Pillow (libjpeg), ffmpeg's
MJPEG encoder through PyAV, and a phone photo as its camera app wrote it."""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import numpy as np
import pytest
from av.video.codeccontext import VideoCodecContext
from PIL import Image
from redis.asyncio import Redis

from infra.client import LPClient
from infra.redis_server import RedisServer
from services.plugins.builtins import jpeg_traits
from services.plugins.builtins.virtual_camera import VirtualCameraChecker
from services.plugins.memory import FrameMemories
from shared.jpeg_tables import STD_LUMINANCE, ijg_table
from shared.keys import Keys
from shared.lpproto import Command
from shared.messages import ClientInfo, EstimationMessage, ImageType, PluginEvent, decode
from shared.plugin_protocol import Verdict
from shared.plugins import VIRTUAL_CAMERA_CHECKER
from shared.settings import Settings
from tests import media
from tests.stack import Stack
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, require_browser

VIDEO = "pad_replay_tranvanluyt/videos__real.mp4"
PHONE_PHOTO = "silentface_minivision/images__sample__image_T1.jpg"  # EXIF and XMP from the phone
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.4 Mobile/15E148 Safari/604.1")


def traits(data: bytes, page_quality: int | None = 90) -> set[str]:
    structure = jpeg_traits.parse(data)
    assert structure is not None
    return set(jpeg_traits.findings(structure, page_quality))


@pytest.fixture(scope="module")
def frame(data_dir: Path) -> av.VideoFrame:
    """A real camera frame (640x360 after scaling): the genuine selfie video's 500th."""
    with av.open(str(data_dir / VIDEO)) as container:
        for index, decoded in enumerate(container.decode(video=0)):
            if index == 500:
                return decoded.reformat(width=decoded.width // 2 * 2, height=decoded.height // 2 * 2)
    raise AssertionError("video too short")


@pytest.fixture(scope="module")
def picture(frame: av.VideoFrame) -> Image.Image:
    return frame.to_image()  # type: ignore[no-untyped-call,no-any-return]


def pillow(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def ffmpeg_mjpeg(frame: av.VideoFrame, pix_fmt: str) -> bytes:
    codec = cast(VideoCodecContext, av.CodecContext.create("mjpeg", "w"))
    codec.width, codec.height, codec.pix_fmt = frame.width, frame.height, pix_fmt
    codec.time_base = Fraction(1, 25)
    packets = codec.encode(frame.reformat(format=pix_fmt))
    return bytes(packets[0])


def canvas_jpegs(image: Image.Image, qualities: tuple[float, ...]) -> Iterator[bytes]:
    """What vigil.js sends: the picture drawn on a canvas, then ``toDataURL("image/jpeg", q)``."""
    require_browser()
    from playwright.sync_api import sync_playwright

    png = io.BytesIO()
    image.save(png, format="PNG")
    source = "data:image/png;base64," + base64.b64encode(png.getvalue()).decode()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            page = browser.new_page()
            for quality in qualities:
                url = page.evaluate("""async ([src, quality]) => {
                    const picture = new Image(); picture.src = src; await picture.decode();
                    const canvas = document.createElement("canvas");
                    canvas.width = picture.width; canvas.height = picture.height;
                    canvas.getContext("2d").drawImage(picture, 0, 0);
                    return canvas.toDataURL("image/jpeg", quality); }""", [source, quality])
                yield base64.b64decode(url.partition(",")[2])
        finally:
            browser.close()


def test_chromium_canvas_frames_show_no_trait_at_the_page_quality(data_dir: Path, picture: Image.Image) -> None:
    for image in (picture, media.photo(data_dir, media.NEUTRAL_FACE)):
        at_page, at_75, at_100 = canvas_jpegs(image, (0.9, 0.75, 1.0))
        structure = jpeg_traits.parse(at_page)
        assert structure is not None
        assert jpeg_traits.ijg_quality(structure) == 90
        assert traits(at_page) == set()
        # Another page quality is visible in the tables (and accepted when the setting is None).
        assert traits(at_75) == {"quality_mismatch"}
        assert traits(at_75, page_quality=None) == set()
        assert traits(at_100, page_quality=100) == set()  # Chromium is 4:4:4 at 1.0: accepted


def test_libjpeg_at_the_page_quality_is_indistinguishable(picture: Image.Image) -> None:
    # Pillow is libjpeg: at quality 90 with 4:2:0 it writes what Chromium writes (the trait's limit).
    image = picture
    assert traits(pillow(image, quality=90)) == set()
    assert traits(pillow(image, quality=75)) == {"quality_mismatch"}
    assert traits(pillow(image, quality=90, subsampling=1)) == {"chroma_subsampling"}  # 4:2:2
    assert traits(pillow(image, quality=90, progressive=True)) == {"encoder_markers"}
    assert traits(pillow(image.convert("L"), quality=90)) == {"chroma_subsampling"}


def test_ffmpeg_mjpeg_frames_are_caught(frame: av.VideoFrame) -> None:
    assert traits(ffmpeg_mjpeg(frame, "yuvj420p")) == {"foreign_quantisation", "encoder_markers"}
    assert traits(ffmpeg_mjpeg(frame, "yuvj422p")) == {"foreign_quantisation", "encoder_markers",
                                                        "chroma_subsampling"}
    assert b"Lavc" in jpeg_traits.parse(ffmpeg_mjpeg(frame, "yuvj420p")).comments[0]  # type: ignore[union-attr]


def test_mjpeg_without_huffman_tables_is_caught(frame: av.VideoFrame) -> None:
    """UVC cameras send MJPEG without DHT segments (the decoder supplies the standard ones);
    built here by removing them from ffmpeg's output, as no such recording is in the media."""
    data = ffmpeg_mjpeg(frame, "yuvj420p")
    at, kept = 2, bytearray(data[:2])
    while data[at + 1] != 0xDA:
        length = int.from_bytes(data[at + 2:at + 4], "big")
        if data[at + 1] != 0xC4:
            kept += data[at:at + 2 + length]
        at += 2 + length
    stripped = bytes(kept + data[at:])
    structure = jpeg_traits.parse(stripped)
    assert structure is not None
    assert not structure.has_huffman_tables
    assert "encoder_markers" in jpeg_traits.findings(structure, 90)


def test_a_phone_photo_sent_as_it_is_is_caught(data_dir: Path) -> None:
    data = (data_dir / PHONE_PHOTO).read_bytes()
    assert traits(data) == {"encoder_markers", "quality_mismatch"}  # EXIF + XMP, libjpeg at 95


def test_garbage_is_no_structure() -> None:
    assert jpeg_traits.parse(b"\x89PNG\r\n\x1a\n") is None
    assert jpeg_traits.parse(b"\xff\xd8\xff\xe0\x00\x10JFIF") is None


def estimation(image: bytes, content_type: ImageType, frame_no: int, agent: str | None = None) -> EstimationMessage:
    return EstimationMessage(session_id="s1", request_id=f"r{frame_no}", frame_no=frame_no, frame_width=640,
                             frame_height=480, main_face=0, image=image, content_type=content_type,
                             client=ClientInfo(user_agent=agent))


@pytest.mark.anyio
async def test_the_checker_reports_each_trait_once(redis: Redis, keys: Keys, settings: Settings,
                                                  frame: av.VideoFrame, picture: Image.Image) -> None:
    checker = VirtualCameraChecker(settings)

    async def evaluate(message: EstimationMessage) -> Verdict:
        """As the plugins service runs it: the frame's memory read before and written after."""
        memories = FrameMemories(redis, keys, "s1", 60)
        await memories.load([checker.name])
        verdict = await checker.evaluate(message, memories.of(checker.name))
        await memories.flush()
        return verdict

    page_like = pillow(picture, quality=90)
    first = await evaluate(estimation(page_like, ImageType.JPEG, 1))
    assert first.details == {}
    assert first.announce is None
    forwarded = await evaluate(estimation(ffmpeg_mjpeg(frame, "yuvj422p"), ImageType.JPEG, 2))
    assert set(forwarded.details) == {"foreign_quantisation", "encoder_markers", "chroma_subsampling"}
    assert forwarded.announce is not None
    assert "foreign_quantisation" in forwarded.announce
    png = io.BytesIO()
    picture.save(png, format="PNG")
    as_png = await evaluate(estimation(png.getvalue(), ImageType.PNG, 3))
    assert as_png.details == {"png_frame": 1.0}
    # Apple's canvas encoder was not measured: Safari's and iOS frames are not judged.
    safari = await evaluate(estimation(ffmpeg_mjpeg(frame, "yuvj422p"), ImageType.JPEG, 4, SAFARI))
    assert safari.details == {}


def test_user_agents() -> None:
    chromium = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
                "Safari/537.36")
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    assert jpeg_traits.webkit_only(SAFARI)
    assert not jpeg_traits.webkit_only(chromium)
    assert not jpeg_traits.webkit_only(firefox)
    assert not jpeg_traits.webkit_only(None)
    assert np.array_equal(ijg_table(STD_LUMINANCE, 50), STD_LUMINANCE)


@pytest.mark.anyio
@pytest.mark.timeout(120)
async def test_forwarded_mjpeg_is_announced_through_the_pipeline(redis_server: RedisServer, redis: Redis,
                                                                 tmp_path: Path, frame: av.VideoFrame) -> None:
    stack = Stack(redis_server.url, f"t{uuid.uuid4().hex[:12]}", tmp_path,
                  VIGIL_VIRTUAL_CAMERA_CHECKER__IS_ENABLED="true")
    try:
        stack.start_all("ingress", "estimator", "decider", "plugins")
        async with LPClient(stack.ws_url) as client:
            await client.connect()
            reply = await client.frame(ffmpeg_mjpeg(frame, "yuvj422p"))
        assert reply.command is Command.STATS
        assert "faceFramePosition" in reply.stats()["estimations"]  # a main face: the plugins ran
        events = [decode(PluginEvent, fields) for _, fields in await redis.xrange(Keys(stack.prefix).plugin_events)]
    finally:
        stack.stop()
    assert [e.plugin for e in events] == [VIRTUAL_CAMERA_CHECKER]
    assert {"foreign_quantisation", "chroma_subsampling", "encoder_markers"} <= set(events[0].details)
