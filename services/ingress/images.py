"""Frame bodies: base64 decoding and image header checks, before anything reaches the bus.

Only the header is read here (format and dimensions); full decoding happens in the estimator,
which answers an image that turns out to be truncated with ``NOT_AN_IMAGE``.
"""

from __future__ import annotations

import binascii
import io
from dataclasses import dataclass

from PIL import Image

from shared.errors import ImageError, SystemCode
from shared.image_header import check_pixels, declared_size
from shared.messages import ImageType
from shared.settings import IngressSettings

CONTENT_TYPES = {
    "image/x-jpeg-base64": ImageType.JPEG,
    "image/x-png-base64": ImageType.PNG,
}
_MAGIC = {ImageType.JPEG: b"\xff\xd8\xff", ImageType.PNG: b"\x89PNG\r\n\x1a\n"}
_PIL_FORMAT = {ImageType.JPEG: "JPEG", ImageType.PNG: "PNG"}


@dataclass(frozen=True, slots=True)
class CheckedImage:
    image_type: ImageType
    data: bytes
    width: int
    height: int


def check_frame(content_type: str | None, body: str, limits: IngressSettings) -> CheckedImage:
    image_type = CONTENT_TYPES.get((content_type or "").strip().lower())
    if image_type is None:
        raise ImageError(
            f"content-type {content_type!r} is not one of {sorted(CONTENT_TYPES)}",
            code=SystemCode.UNSUPPORTED_CONTENT_TYPE,
        )
    encoded = body.strip()
    if encoded.startswith("data:"):
        # Browsers' canvas.toDataURL() output: tolerate the prefix.
        encoded = encoded.partition(",")[2]
    if len(encoded) * 3 // 4 > limits.max_image_bytes + 3:
        raise ImageError(f"image over {limits.max_image_bytes} bytes", code=SystemCode.IMAGE_TOO_LARGE)
    try:
        data = binascii.a2b_base64(encoded, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError(f"body is not valid base64: {exc}", code=SystemCode.INVALID_BASE64) from None
    if len(data) > limits.max_image_bytes:
        raise ImageError(f"image over {limits.max_image_bytes} bytes", code=SystemCode.IMAGE_TOO_LARGE)
    if not data.startswith(_MAGIC[image_type]):
        raise ImageError(f"body is not a {image_type.value} image", code=SystemCode.NOT_AN_IMAGE)
    # The size as the header announces it, before any decoder sees the bytes (a pixel bomb stops here).
    width, height = declared_size(data, image_type)
    check_pixels(width, height, limits.max_image_pixels)
    _check_header(data, image_type)
    if min(width, height) < limits.min_image_side:
        raise ImageError(
            f"{width}x{height} has a side under {limits.min_image_side} px", code=SystemCode.BAD_IMAGE_DIMENSIONS
        )
    return CheckedImage(image_type, data, width, height)


def _check_header(data: bytes, image_type: ImageType) -> None:
    """Pillow reads the header (the pixel data stays undecoded): a malformed one is NOT_AN_IMAGE,
    whatever Pillow raises for it; the size was checked on the raw header first."""
    try:
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[image_type]]):
            pass
    except Exception as exc:  # noqa: BLE001  # any decoder fault is the image's, answered with its code
        raise ImageError(f"unreadable {image_type.value} header: {exc}", code=SystemCode.NOT_AN_IMAGE) from None
