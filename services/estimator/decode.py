"""Decoding frame bytes into RGB pixels; an image that does not decode is reported, not fatal.

The header's announced size is checked against ``max_pixels`` before decoding (the ingress did
so too; this guards frames from any other producer, e.g. ``vigil replay``), and a decoder fault
of any kind becomes ``NOT_AN_IMAGE``, never an estimator crash.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from services.estimator.model import RGBImage
from shared.errors import ImageError, SystemCode
from shared.image_header import check_pixels, declared_size
from shared.messages import ImageType

_TYPES = {b"\x89PNG": ImageType.PNG, b"\xff\xd8": ImageType.JPEG}


def decode_rgb(data: bytes, max_pixels: int | None = None) -> RGBImage:
    if max_pixels is not None:
        kind = next((kind for magic, kind in _TYPES.items() if data.startswith(magic)), None)
        if kind is None:
            raise ImageError("neither a JPEG nor a PNG", code=SystemCode.NOT_AN_IMAGE)
        check_pixels(*declared_size(data, kind), max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as image:
            # Photos from files may carry an EXIF rotation; camera frames from the page carry none.
            upright = ImageOps.exif_transpose(image)
            return np.asarray(upright.convert("RGB"))
    except Exception as exc:  # noqa: BLE001  # any decoder fault is the image's: answered NOT_AN_IMAGE
        raise ImageError(f"image does not decode: {exc}", code=SystemCode.NOT_AN_IMAGE) from None
