"""Frame bodies at the ingress: each bad input gets its documented code before the bus."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from services.estimator.decode import decode_rgb
from services.ingress.images import check_frame
from shared.errors import ImageError, SystemCode
from shared.messages import ImageType
from shared.settings import IngressSettings
from tests.media import png_bomb

LIMITS = IngressSettings(max_image_bytes=200_000, max_image_pixels=1000 * 1000, min_image_side=64)


def encoded(size: tuple[int, int] = (320, 240), fmt: str = "JPEG") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 60)).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode()


def test_jpeg_and_png_pass_with_dimensions() -> None:
    jpeg = check_frame("image/x-jpeg-base64", encoded(), LIMITS)
    assert (jpeg.image_type, jpeg.width, jpeg.height) == (ImageType.JPEG, 320, 240)
    png = check_frame("image/x-png-base64", encoded(fmt="PNG"), LIMITS)
    assert png.image_type is ImageType.PNG


def test_data_url_prefix_is_tolerated() -> None:
    assert check_frame("image/x-jpeg-base64", "data:image/jpeg;base64," + encoded(), LIMITS).width == 320


def jpeg_announcing(width: int, height: int) -> bytes:
    """A real small JPEG whose start-of-frame marker is rewritten to announce another size."""
    raw = bytearray(base64.b64decode(encoded()))
    at = raw.index(b"\xff\xc0")
    raw[at + 5:at + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(raw)


def truncated_jpeg() -> str:
    raw = base64.b64decode(encoded())
    return base64.b64encode(raw[:20]).decode()


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        (None, encoded(), SystemCode.UNSUPPORTED_CONTENT_TYPE),
        ("image/gif", encoded(), SystemCode.UNSUPPORTED_CONTENT_TYPE),
        ("image/x-jpeg-base64", "not base64 at all!", SystemCode.INVALID_BASE64),
        ("image/x-jpeg-base64", "QUJD=QUJD", SystemCode.INVALID_BASE64),
        ("image/x-jpeg-base64", base64.b64encode(b"plain text, not an image").decode(), SystemCode.NOT_AN_IMAGE),
        ("image/x-jpeg-base64", encoded(fmt="PNG"), SystemCode.NOT_AN_IMAGE),
        ("image/x-jpeg-base64", truncated_jpeg(), SystemCode.NOT_AN_IMAGE),
        ("image/x-jpeg-base64", "A" * 400_000, SystemCode.IMAGE_TOO_LARGE),
        ("image/x-png-base64", encoded((1200, 1000), "PNG"), SystemCode.BAD_IMAGE_DIMENSIONS),
        ("image/x-jpeg-base64", encoded((40, 300)), SystemCode.BAD_IMAGE_DIMENSIONS),
        # Decompression bombs: the header's size is refused before any decoder (Pillow's own bomb
        # error above 179 M pixels used to escape as a dropped connection).
        ("image/x-png-base64", base64.b64encode(png_bomb(1001, 1000)).decode(), SystemCode.BAD_IMAGE_DIMENSIONS),
        ("image/x-jpeg-base64", base64.b64encode(jpeg_announcing(60_000, 60_000)).decode(),
         SystemCode.BAD_IMAGE_DIMENSIONS),
        ("image/x-png-base64", base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 40).decode(), SystemCode.NOT_AN_IMAGE),
    ],
)
def test_bad_frames_get_documented_codes(content_type: str | None, body: str, code: SystemCode) -> None:
    with pytest.raises(ImageError) as caught:
        check_frame(content_type, body, LIMITS)
    assert caught.value.code is code


def test_the_estimator_refuses_a_bomb_before_decoding_and_any_decoder_fault_is_not_an_image() -> None:
    with pytest.raises(ImageError) as caught:
        decode_rgb(png_bomb(20_000, 20_000), max_pixels=4096 * 4096)
    assert caught.value.code is SystemCode.BAD_IMAGE_DIMENSIONS
    # Without a limit Pillow's own DecompressionBombError is still an answer, not a crash.
    with pytest.raises(ImageError) as caught:
        decode_rgb(png_bomb(20_000, 20_000))
    assert caught.value.code is SystemCode.NOT_AN_IMAGE
    with pytest.raises(ImageError) as caught:
        decode_rgb(png_bomb(100, 100)[:60], max_pixels=4096 * 4096)  # a header, then the data cut
    assert caught.value.code is SystemCode.NOT_AN_IMAGE
    assert decode_rgb(base64.b64decode(encoded()), max_pixels=320 * 240).shape == (240, 320, 3)


def test_the_issues_png_bomb_is_refused_at_the_default_limits() -> None:
    """20000x20000 (~390 KB on the wire, 400 M pixels): Pillow's own bomb error used to escape."""
    bomb = base64.b64encode(png_bomb(20_000, 20_000)).decode()
    with pytest.raises(ImageError) as caught:
        check_frame("image/x-png-base64", bomb, IngressSettings())
    assert caught.value.code is SystemCode.BAD_IMAGE_DIMENSIONS
