"""Decoding frame bytes into RGB pixels; an image that does not decode is reported, not fatal."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from services.estimator.model import RGBImage
from shared.errors import ImageError, SystemCode


def decode_rgb(data: bytes) -> RGBImage:
    try:
        with Image.open(io.BytesIO(data)) as image:
            # Photos from files may carry an EXIF rotation; camera frames from the page carry none.
            upright = ImageOps.exif_transpose(image)
            return np.asarray(upright.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"image does not decode: {exc}", code=SystemCode.NOT_AN_IMAGE) from None
