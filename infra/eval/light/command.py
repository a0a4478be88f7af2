"""``vigil eval light``: the SIMULATED screen-light evaluation (or ``--from-recordings``: the same
figures on real recorded sessions), written to OUT/light.json with every parameter, and a table.
"""

from __future__ import annotations

import asyncio
import dataclasses
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from infra.eval.light.figures import onset, summarise
from infra.eval.light.host import SessionResult
from infra.eval.light.measure import Estimator
from infra.eval.light.params import LightModel, SessionDraw
from infra.eval.light.plan import Trial, trials
from infra.eval.light.report import table, write
from infra.eval.light.scene import CanonicalFace
from infra.eval.light.session import Tools, run_session
from infra.eval.light.sources import Footage
from shared.settings import Env, Settings

ROOT = Path(__file__).resolve().parents[3]
QUICK_FOOTAGE_S = 4.0
LABEL = "SIMULATED: physically based relighting of real videos, not real cameras or rooms"


def eval_settings() -> Settings:
    """The service's defaults (and the environment's VIGIL_* overrides), models from the checkout."""
    return Settings(env=Env.DEVELOPMENT, estimator={"models_dir": ROOT / "var" / "models"})


def tools_for(settings: Settings, model: LightModel) -> Tools:
    estimator = Estimator(settings)
    return Tools(model, settings, estimator, CanonicalFace.of(estimator.canonical))


Entry = tuple[str, bool, SessionResult]  # group, attack?, the session


async def run_trials(tools: Tools, root: Path, plan: list[Trial], *, progress: bool) -> list[Entry]:
    """Every trial, one video decoded at a time (its frames are the memory that counts)."""
    done: list[Entry] = []
    by_medium: dict[str, list[Trial]] = defaultdict(list)
    for trial in plan:
        by_medium[trial.medium.path].append(trial)
    for path, group in by_medium.items():
        footage = Footage(root, group[0].medium, tools.model.frame_box, tools.model.footage_s)
        for trial in group:
            started = time.monotonic()
            draw = SessionDraw.draw(trial.model, trial.seed, ambient_lux=trial.ambient_lux)
            result = await run_session(dataclasses.replace(tools, model=trial.model), trial.variant, footage, draw)
            done.append((trial.group, trial.variant.attack, result))
            if progress:
                print(f"[{len(done)}/{len(plan)}] {trial.group:22s} {path[:48]:48s} {result.outcome:8s} "
                      f"{result.reason[:24]:24s} {time.monotonic() - started:5.1f}s", file=sys.stderr, flush=True)
    return done


def document(results: list[Entry], model: LightModel | None, settings: Settings, run: dict[str, Any],
             label: str = LABEL) -> dict[str, Any]:
    groups: dict[str, list[SessionResult]] = defaultdict(list)
    attack: dict[str, bool] = {}
    for group, is_attack, result in results:
        groups[group].append(result)
        attack[group] = is_attack
    summary = {group: summarise(rs, attack=attack[group]) for group, rs in groups.items()}
    levels = {float(g.split("@")[1].removesuffix("lux")): e for g, e in summary.items() if g.startswith("genuine@")}
    genuine = [r for group, _, r in results if group.startswith("genuine@") or group == "genuine"]
    return {
        "label": label,
        "run": run,
        "parameters": dataclasses.asdict(model) if model is not None else {},
        "light_challenge_settings": settings.light_challenge.model_dump(mode="json"),
        "summary": {"groups": summary, "genuine_all": summarise(genuine, attack=False) if genuine else None,
                    "genuine_onset": onset(levels) if levels else None},
        "sessions": [{"group": group, "variant": r.variant, "medium": r.medium, "ambient_lux": r.ambient_lux,
                      "outcome": r.outcome, "reason": r.reason, "retries": r.retries, "frames": r.frames,
                      "challenge_s": r.challenge_s, "mixed_frames": r.mixed_frames,
                      "mismatched_frames": r.mismatched_frames, "cues": r.cues,
                      "draw": dataclasses.asdict(r.draw) if r.draw else None} for group, _, r in results],
    }


def evaluate(media_root: Path, out: Path, *, sessions: int, quick: bool, progress: bool = False) -> dict[str, Any]:
    # The test subset keeps less of each video (decoding and the stillness search are its cost).
    model = LightModel(footage_s=QUICK_FOOTAGE_S) if quick else LightModel()
    settings = eval_settings()
    started = time.time()
    plan = trials(media_root, model, sessions, quick=quick)
    results = asyncio.run(run_trials(tools_for(settings, model), media_root, plan, progress=progress))
    run = {"quick": quick, "sessions_per_group": sessions, "media": str(media_root),
           "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
           "wall_s": round(time.time() - started, 1), "machine": f"{platform.machine()} {platform.node()}",
           "python": platform.python_version()}
    report = document(results, model, settings, run)
    write(report, out)
    return report


def main(media_root: Path, out: Path, *, sessions: int | None, quick: bool, recordings: Path | None) -> int:
    if recordings is not None:
        from infra.eval.light.recordings import evaluate_recordings

        report = evaluate_recordings(recordings, out)
    else:
        if not (media_root / "manifest.json").is_file():
            print(f"vigil eval light: {media_root} has no manifest.json (the media folder, e.g. ../shared/data)")
            return 2
        report = evaluate(media_root, out, sessions=sessions or (1 if quick else 12), quick=quick, progress=True)
    print(table(report))
    print(f"\nwritten: {out / 'light.json'}")
    return 0
