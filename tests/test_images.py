"""Frame bodies at the ingress: each bad input gets its documented code before the bus."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from services.ingress.images import check_frame
from shared.errors import ImageError, SystemCode
from shared.messages import ImageType
from shared.settings import IngressSettings

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
    ],
)
def test_bad_frames_get_documented_codes(content_type: str | None, body: str, code: SystemCode) -> None:
    with pytest.raises(ImageError) as caught:
        check_frame(content_type, body, LIMITS)
    assert caught.value.code is code
