"""Image-quality scores on real faces and on degraded copies of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from services.estimator.models.yunet import YuNetDetector
from services.estimator.quality import face_crop, image_quality
from shared.errors import FrameCheck
from shared.messages import ImageQuality
from shared.settings import ThresholdSettings
from shared.thresholds import quality_failures
from tests import media

LIMITS = ThresholdSettings()


def quality(det: YuNetDetector, image: Image.Image) -> ImageQuality:
    pixels = np.asarray(image.convert("RGB"))
    faces = det.detect(pixels)
    assert faces, "the face must still be found"
    return image_quality(face_crop(pixels, faces[0].box))


@pytest.fixture(scope="module")
def portrait(data_dir: Path) -> Image.Image:
    return media.photo(data_dir, media.OTHER_FACE)


def test_good_portraits_pass_every_quality_check(detector: YuNetDetector, data_dir: Path) -> None:
    for name in (media.FACE_PHOTO, media.OTHER_FACE):
        assert quality_failures(quality(detector, media.photo(data_dir, name)), LIMITS) == [], name


@pytest.mark.parametrize(
    ("degrade", "code"),
    [
        (lambda im: im.filter(ImageFilter.GaussianBlur(3)), FrameCheck.BLURRED),
        (lambda im: ImageEnhance.Brightness(im).enhance(0.3), FrameCheck.DARK),
        (lambda im: ImageEnhance.Brightness(im).enhance(2.2), FrameCheck.HIGHLIGHTED),
    ],
)
def test_degraded_copy_sets_its_flag(
    detector: YuNetDetector, portrait: Image.Image, degrade: object, code: FrameCheck,
) -> None:
    assert callable(degrade)
    assert code in quality_failures(quality(detector, degrade(portrait)), LIMITS)


def test_darkening_alone_is_not_read_as_blur(detector: YuNetDetector, portrait: Image.Image) -> None:
    dark = quality(detector, ImageEnhance.Brightness(portrait).enhance(0.3))
    assert dark.blur > 0.9


def test_real_motion_blur_and_side_light(detector: YuNetDetector, data_dir: Path) -> None:
    blurred = quality(detector, media.photo(data_dir, "derived_frames/zubair_real_f057.jpg"))
    sharp = quality(detector, media.photo(data_dir, "derived_frames/zubair_real_f015.jpg"))
    # Motion blur lowers the score; like a soft genuine camera it still passes (lenient on purpose).
    assert blurred.blur < sharp.blur
    assert FrameCheck.BLURRED not in quality_failures(sharp, LIMITS)
    side_lit = quality(detector, media.photo(data_dir, "yalefaces_leecarraher/subject01.rightlight.gif"))
    assert FrameCheck.UNEVEN_ILLUMINATION in quality_failures(side_lit, LIMITS)
    frontal = quality(detector, media.photo(data_dir, "yalefaces_leecarraher/subject01.normal.gif"))
    assert FrameCheck.UNEVEN_ILLUMINATION not in quality_failures(frontal, LIMITS)


def test_disabled_threshold_disables_its_check(detector: YuNetDetector, portrait: Image.Image) -> None:
    dark = quality(detector, ImageEnhance.Brightness(portrait).enhance(0.3))
    assert FrameCheck.DARK not in quality_failures(dark, ThresholdSettings(dark=None))
