"""The real YuNet model on real photos, and the manifest guarding it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from services.estimator.decode import decode_rgb
from services.estimator.manifest import MANIFEST, load_spec
from services.estimator.models.yunet import YuNetDetector
from services.estimator.runtime import open_session
from shared.errors import ImageError, ModelError
from tests import media


def media_root() -> Path:
    return Path(__file__).resolve().parent.parent


def test_one_face_with_box_and_keypoints(detector: YuNetDetector, data_dir: Path) -> None:
    faces = detector.detect(decode_rgb(media.face_jpeg(data_dir)))
    assert len(faces) == 1
    face = faces[0]
    assert face.score > 0.8
    # The portrait's face sits in the middle of the frame, upper half (1280x720 after resizing).
    assert 500 < face.box.x < 700
    assert 120 < face.box.width < 260
    right_eye, left_eye, nose, *_ = face.keypoints
    assert right_eye[0] < nose[0] < left_eye[0]
    assert face.box.y < nose[1] < face.box.y + face.box.height


def test_two_people_and_background(detector: YuNetDetector, data_dir: Path) -> None:
    assert len(detector.detect(decode_rgb(media.jpeg(media.photo(data_dir, media.TWO_PEOPLE))))) == 2
    assert detector.detect(decode_rgb(media.no_face_jpeg(data_dir))) == []


def test_blank_frame_has_no_face(detector: YuNetDetector) -> None:
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []


def test_undecodable_image_raises_image_error() -> None:
    with pytest.raises(ImageError):
        decode_rgb(b"\xff\xd8\xff\xe0 truncated")


def test_manifest_rejects_a_changed_file(tmp_path: Path) -> None:
    spec = load_spec("yunet")
    models = media_root() / "var" / "models"
    shutil.copy(spec.path(models), tmp_path / spec.file)
    with (tmp_path / spec.file).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match="SHA-256"):
        open_session(spec, tmp_path, "cpu", 1)
    with pytest.raises(ModelError, match="missing"):
        open_session(spec, tmp_path / "empty", "cpu", 1)


def test_manifest_rejects_wrong_shapes(tmp_path: Path) -> None:
    entry = json.loads(MANIFEST.read_text())
    entry["models"]["yunet"]["outputs"][0]["shape"] = [1, 6400, 2]
    changed = tmp_path / "manifest.json"
    changed.write_text(json.dumps(entry))
    with pytest.raises(ModelError, match="outputs"):
        open_session(load_spec("yunet", changed), media_root() / "var" / "models", "cpu", 1)
