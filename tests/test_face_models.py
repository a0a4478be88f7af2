"""Face mesh, iris, SFace and the canonical mesh on real photos, and their reproducible preparation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper
from PIL import Image

from infra.prepare_models import (
    MANIFEST_PATH,
    Source,
    blended_prelu,
    drop_weight_inputs,
    extract_member,
    prepare,
    sha256_of,
)
from services.estimator.manifest import MANIFEST, ModelSpec, load_spec
from services.estimator.model import RGBImage
from services.estimator.models.canonical_mesh import CanonicalMesh
from services.estimator.models.face_mesh import FaceMeshModel, FloatArray
from services.estimator.models.iris import Eye, IrisModel
from services.estimator.models.sface import TEMPLATE, SFaceModel, umeyama
from services.estimator.models.yunet import YuNetDetector
from services.estimator.runtime import open_session
from shared.errors import ModelError
from shared.messages import Face

MODELS = Path(__file__).resolve().parent.parent / "var" / "models"
CACHE = MODELS.parent / "cache"
FRONTAL = ["face_recognition_ageitgey/examples__obama-1080p.jpg", "deepface_serengil/img11.jpg",
           "derived_frames/hdtf_aoc_f070.jpg", "derived_frames/repeating_selfie_f060.jpg",
           "yalefaces_leecarraher/subject01.normal.gif"]
# Closed-eye frames and their open-eye counterparts (same person, same video or session).
CLOSED_OPEN = [("derived_frames/repeating_selfie_f180.jpg", "derived_frames/repeating_selfie_f060.jpg"),
               ("derived_frames/hdtf_aoc_f056.jpg", "derived_frames/hdtf_aoc_f070.jpg")]
IDENTITIES = {"img11": "jolie", "img2": "jolie", "img4": "jolie", "img5": "jolie", "img12": "aniston",
              "img3": "aniston", "img18": "musk", "img19": "musk", "img24": "pichai", "img25": "pichai"}
RIGHT_EYE, LEFT_EYE = (33, 133), (362, 263)  # mesh corners: the subject's right eye is image left


@pytest.fixture(scope="module")
def mesh_model() -> FaceMeshModel:
    spec = load_spec("face_mesh")
    model = FaceMeshModel(open_session(spec, MODELS, "cpu", 1), spec)
    model.warm_up()
    return model


@pytest.fixture(scope="module")
def iris_model() -> IrisModel:
    spec = load_spec("iris")
    model = IrisModel(open_session(spec, MODELS, "cpu", 1), spec)
    model.warm_up()
    return model


@pytest.fixture(scope="module")
def sface_model() -> SFaceModel:
    spec = load_spec("sface")
    model = SFaceModel(open_session(spec, MODELS, "cpu", 1), spec)
    model.warm_up()
    return model


@pytest.fixture(scope="module")
def canonical() -> CanonicalMesh:
    return CanonicalMesh(load_spec("canonical_face_mesh"), MODELS)


def load(data_dir: Path, name: str) -> RGBImage:
    with Image.open(data_dir / name) as image:
        return np.asarray(image.convert("RGB"))


def main_face(detector: YuNetDetector, image: RGBImage) -> Face:
    faces = detector.detect(image)
    assert faces, "YuNet found no face"
    return max(faces, key=lambda face: face.box.width * face.box.height)


def iod(face: Face) -> float:
    return float(np.hypot(*np.subtract(face.keypoints[0], face.keypoints[1])))


def mirror_index(canonical: CanonicalMesh) -> Iterator[int]:
    """For each vertex, its mirror image across the canonical mesh's plane of symmetry (x = 0)."""
    vertices = canonical.vertices
    for vertex in vertices:
        yield int(np.argmin(((vertices - vertex * [-1, 1, 1]) ** 2).sum(axis=1)))


def openness(eye: Eye) -> float:
    """Eyelid gap at mid-eye over the corner-to-corner width (contour 4/12 mid lids, 0/8 corners)."""
    lids = eye.eyelids[:, :2]
    return float(np.linalg.norm(lids[12] - lids[4]) / np.linalg.norm(lids[0] - lids[8]))


def inside(polygon: FloatArray, point: FloatArray) -> bool:
    """Even-odd rule: does a ray to the right of ``point`` cross the polygon an odd number of times?"""
    crossings = 0
    for (x1, y1), (x2, y2) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        if (y1 > point[1]) != (y2 > point[1]) and point[0] < x1 + (point[1] - y1) * (x2 - x1) / (y2 - y1):
            crossings += 1
    return crossings % 2 == 1


@pytest.mark.parametrize("name", FRONTAL)
def test_mesh_lies_on_the_face(detector: YuNetDetector, mesh_model: FaceMeshModel, data_dir: Path,
                               name: str) -> None:
    image = load(data_dir, name)
    face = main_face(detector, image)
    mesh = mesh_model.predict_one(image, face)
    assert mesh.landmarks.shape == (468, 3)
    assert mesh.landmarks.dtype == np.float32
    assert mesh.score > 0.9
    box, margin = face.box, 0.1
    xs, ys = mesh.landmarks[:, 0], mesh.landmarks[:, 1]
    assert box.x - margin * box.width < xs.min() < xs.max() < box.x + (1 + margin) * box.width
    assert box.y - margin * box.height < ys.min() < ys.max() < box.y + (1 + margin) * box.height
    # The mean of each eye's corners lies on YuNet's eye keypoint (measured: 0.03-0.08 IOD).
    for corners, keypoint in ((RIGHT_EYE, face.keypoints[0]), (LEFT_EYE, face.keypoints[1])):
        centre = mesh.landmarks[list(corners), :2].mean(axis=0)
        assert np.linalg.norm(centre - keypoint) < 0.15 * iod(face)


def test_mirrored_image_gives_mirrored_mesh(detector: YuNetDetector, mesh_model: FaceMeshModel,
                                            canonical: CanonicalMesh, data_dir: Path) -> None:
    mirror = list(mirror_index(canonical))
    for name in FRONTAL[:3]:
        image = load(data_dir, name)
        flipped = np.ascontiguousarray(image[:, ::-1])
        face = main_face(detector, image)
        original = mesh_model.predict_one(image, face).landmarks
        back = mesh_model.predict_one(flipped, main_face(detector, flipped)).landmarks[mirror]
        back[:, 0] = image.shape[1] - back[:, 0]
        error = np.linalg.norm(back[:, :2] - original[:, :2], axis=1) / iod(face)
        # Measured median 0.03-0.06 IOD: YuNet's box moves a little in the mirror, and so the crop.
        assert np.median(error) < 0.08, name
        assert np.percentile(error, 95) < 0.2, name


def test_batch_matches_single_faces(detector: YuNetDetector, mesh_model: FaceMeshModel, iris_model: IrisModel,
                                    sface_model: SFaceModel, data_dir: Path) -> None:
    images = [load(data_dir, name) for name in FRONTAL[:3]]
    items = [(image, main_face(detector, image)) for image in images]
    meshes = mesh_model.predict(items)
    for (image, face), mesh in zip(items, meshes, strict=True):
        np.testing.assert_allclose(mesh.landmarks, mesh_model.predict_one(image, face).landmarks, atol=1e-3)
    eyes = iris_model.predict([(image, mesh.landmarks) for image, mesh in zip(images, meshes, strict=True)])
    single = iris_model.predict_one(images[1], meshes[1].landmarks)
    np.testing.assert_allclose(eyes[1].left.iris, single.left.iris, atol=1e-3)
    descriptors = sface_model.predict(items)
    np.testing.assert_allclose(descriptors[2], sface_model.predict_one(*items[2]), atol=1e-5)
    assert mesh_model.predict([]) == []
    assert iris_model.predict([]) == []


@pytest.mark.parametrize("name", FRONTAL)
def test_iris_centre_inside_open_eye(detector: YuNetDetector, mesh_model: FaceMeshModel, iris_model: IrisModel,
                                     data_dir: Path, name: str) -> None:
    image = load(data_dir, name)
    landmarks = mesh_model.predict_one(image, main_face(detector, image)).landmarks
    eyes = iris_model.predict_one(image, landmarks)
    # Contour points 0 and 8 are the eye corners; the mirrored crop of the subject's left eye
    # starts at its outer corner (263), as the subject's right eye does (33).
    for eye, corners in ((eyes.right, (33, 133)), (eyes.left, (263, 362))):
        assert eye.contour.shape == (71, 3)
        assert eye.iris.shape == (5, 3)
        lids = eye.eyelids[:, :2]
        outline = np.vstack([lids[0:9], lids[15:8:-1]])  # lower lid corner to corner, upper lid back
        assert inside(outline, eye.iris_centre)
        width = np.linalg.norm(landmarks[corners[0], :2] - landmarks[corners[1], :2])
        # The iris model's lids are tighter than the mesh's coarse corners (up to 0.3 of the eye's width
        # on a squinting eye), but they are the same corners.
        assert np.linalg.norm(lids[[0, 8]] - landmarks[list(corners), :2], axis=1).max() < 0.4 * width
    # Image left is the subject's right eye in these non-mirrored photos.
    assert eyes.right.iris_centre[0] < eyes.left.iris_centre[0]


def test_closed_eyes_are_less_open(detector: YuNetDetector, mesh_model: FaceMeshModel, iris_model: IrisModel,
                                   data_dir: Path) -> None:
    def both(name: str) -> float:
        image = load(data_dir, name)
        eyes = iris_model.predict_one(image, mesh_model.predict_one(image, main_face(detector, image)).landmarks)
        return (openness(eyes.right) + openness(eyes.left)) / 2

    pairs = CLOSED_OPEN + [(f"yalefaces_leecarraher/subject{s:02d}.sleepy.gif",
                            f"yalefaces_leecarraher/subject{s:02d}.normal.gif") for s in (1, 4, 8, 14)]
    for closed, opened in pairs:
        # Measured ratios 0.2-0.55 (open eyes 0.26-0.45, closed 0.03-0.21).
        assert both(closed) < 0.7 * both(opened), (closed, opened)


def test_sface_separates_identities(detector: YuNetDetector, sface_model: SFaceModel, data_dir: Path) -> None:
    names = list(IDENTITIES)
    items = []
    for name in names:
        image = load(data_dir, f"deepface_serengil/{name}.jpg")
        items.append((image, main_face(detector, image)))
    descriptors = sface_model.predict(items)
    assert descriptors.shape == (len(names), 128)
    assert descriptors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(descriptors, axis=1), 1.0, atol=1e-5)
    similarity = descriptors @ descriptors.T
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    same = [similarity[i, j] for i, j in pairs if IDENTITIES[names[i]] == IDENTITIES[names[j]]]
    different = [similarity[i, j] for i, j in pairs if IDENTITIES[names[i]] != IDENTITIES[names[j]]]
    # Measured: same person 0.52-0.81, different people -0.06-0.32 (OpenCV's threshold: 0.363).
    assert min(same) > max(different)
    assert min(same) > 0.45
    assert max(different) < 0.363


def test_umeyama_recovers_a_similarity() -> None:
    angle, scale, shift = 0.3, 2.5, np.array([40.0, -7.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = TEMPLATE @ (scale * rotation).T + shift
    estimate = umeyama(TEMPLATE, moved)
    np.testing.assert_allclose(estimate[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(estimate[:, 2], shift, atol=1e-9)


def test_canonical_mesh_is_a_face(canonical: CanonicalMesh) -> None:
    vertices = canonical.vertices
    assert vertices.shape == (468, 3)
    assert vertices.dtype == np.float32
    width, height, depth = vertices.max(axis=0) - vertices.min(axis=0)
    # Centimetres: about 15.5 wide, 17.7 high, 10 deep; outer eye corners 8.9 apart, nose tip in front.
    assert 13 < width < 18
    assert 15 < height < 20
    assert 8 < depth < 12
    assert 8 < np.linalg.norm(vertices[33] - vertices[263]) < 10
    assert int(np.argmax(vertices[:, 2])) in (1, 4)  # the nose tip is the frontmost point
    assert vertices[33, 0] < 0 < vertices[263, 0]  # x grows towards the subject's left (image right)
    mirrored = vertices[list(mirror_index(canonical))] * [-1, 1, 1]
    np.testing.assert_allclose(mirrored, vertices, atol=1e-4)
    with pytest.raises(ValueError, match="read-only"):
        vertices[0, 0] = 1.0


def test_canonical_mesh_rejects_a_changed_file(tmp_path: Path) -> None:
    spec = load_spec("canonical_face_mesh")
    shutil.copy(spec.path(MODELS), tmp_path / spec.file)
    with (tmp_path / spec.file).open("r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\0\0\0\0")
    with pytest.raises(ModelError, match="SHA-256"):
        CanonicalMesh(spec, tmp_path)


def test_warm_up_checks_output_shapes(tmp_path: Path) -> None:
    entry = json.loads(MANIFEST.read_text())
    entry["models"]["iris"]["outputs"][1]["shape"] = ["batch", 16]
    changed = tmp_path / "manifest.json"
    changed.write_text(json.dumps(entry))
    spec = load_spec("iris", changed)
    session = open_session(load_spec("iris"), MODELS, "cpu", 1)
    with pytest.raises(ModelError, match="warm-up outputs"):
        IrisModel(session, spec).warm_up()


def test_prepared_files_match_the_manifest() -> None:
    entries = json.loads(MANIFEST_PATH.read_text())["models"]
    assert {"yunet", "face_mesh", "iris", "sface", "canonical_face_mesh"} <= set(entries)
    for name, entry in entries.items():
        spec = ModelSpec.model_validate(entry)
        assert sha256_of(spec.verify_file(MODELS)) == entry["sha256"], name
        source = entry["source"]
        assert {"registry", "package", "version", "archive_sha256", "member_sha256"} <= set(source), name


def test_preparation_is_reproducible_and_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """From the cached packages (make models fetched them), a fresh run gives the manifest's bytes."""
    entries = json.loads(MANIFEST_PATH.read_text())["models"]
    missing = [e["source"]["archive"] for e in entries.values() if not (CACHE / e["source"]["archive"]).is_file()]
    assert not missing, f"run `make models` first: {missing} not in {CACHE}"
    prepare(tmp_path, CACHE)  # raises SystemExit on any digest that differs from the manifest
    for entry in entries.values():
        assert sha256_of(tmp_path / entry["file"]) == entry["sha256"]
    capsys.readouterr()
    prepare(tmp_path, CACHE)
    assert capsys.readouterr().out.count("up to date") == len(entries)


def test_folded_sface_matches_the_int8_original(detector: YuNetDetector, sface_model: SFaceModel,
                                                data_dir: Path) -> None:
    """The shipped int8 graph, repaired only by dropping its unfed inputs, gives the same descriptor."""
    entry = json.loads(MANIFEST_PATH.read_text())["models"]["sface"]
    source = Source(**entry["source"])
    original = onnx.load_from_string(extract_member(source, CACHE / source.archive))
    drop_weight_inputs(original)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(original.SerializeToString(), options, providers=["CPUExecutionProvider"])
    image = load(data_dir, "deepface_serengil/img11.jpg")
    aligned = sface_model.align(image, main_face(detector, image))[None].transpose(0, 3, 1, 2).astype(np.float32)
    (reference,) = session.run(["fc1"], {"data": aligned})
    (folded,) = sface_model.session.run(["fc1"], {"data": aligned})
    np.testing.assert_allclose(folded, reference, atol=1e-4)


def test_blended_prelu_computes_prelu() -> None:
    slope = np.array([-0.8, 0.0, 0.25, 1.12], np.float32).reshape(4, 1, 1)
    graph = helper.make_graph(
        [helper.make_node("PRelu", ["x", "slope"], ["y"], name="prelu")], "prelu",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 4, 3, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 4, 3, 3])],
        [numpy_helper.from_array(slope, "slope")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = np.random.default_rng(1).normal(size=(1, 4, 3, 3)).astype(np.float32)
    before = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    blended_prelu(model)
    onnx.checker.check_model(model)
    assert "PRelu" not in {node.op_type for node in model.graph.node}
    after = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    # (1 - a) * x + a * x rounds differently from x: equal to float precision, not bit for bit.
    np.testing.assert_allclose(after[0], before[0], rtol=1e-6, atol=1e-6)
