"""Which sessions a ``vigil eval light`` run plays (the media chosen by rule, sources.py).

Genuine people at every ambient level of ``LightModel.ambient_levels_lux`` (``sessions`` each),
the media taken in turn; every attack kind ``sessions`` times (attackers pick a dim room, drawn
per session); and a sensitivity run: genuine people in the dimmest room with the head's outline
(hair, ears) lit like the face (``OUTLINE_HALO``), since the estimator's background band lies
right beside the face. ``quick`` is the test subset: two genuine sessions in a dim room on the
two annotated genuine videos (tests/annotations), one replay and one swap.
"""

from __future__ import annotations

import dataclasses
import zlib
from dataclasses import dataclass
from pathlib import Path

from infra.eval.light.kinds import Kind, Variant, variants
from infra.eval.light.params import LightModel
from infra.eval.light.sources import Medium, genuine_media, swap_media

OUTLINE_HALO = (0.15, 0.15)
QUICK_GENUINE = ("pad_replay_tranvanluyt/videos__real.mp4", "pyimagesearch_liveness_zubair/videos__real.mov")
QUICK_LUX = 30.0


@dataclass(frozen=True)
class Trial:
    group: str  # what the figures are reported under, e.g. "genuine@20lux", "swap"
    variant: Variant
    medium: Medium
    ambient_lux: float | None  # None: drawn from the attack range
    seed: int
    model: LightModel


def _seed(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _pick(media: list[Medium], k: int, sessions: int) -> Medium:
    """Session ``k``'s medium: spread evenly over the list when there are fewer sessions than media
    (the same media at every ambient level, so the levels compare paired)."""
    return media[(k * len(media)) // sessions if sessions < len(media) else k % len(media)]


def trials(root: Path, model: LightModel, sessions: int, *, quick: bool) -> list[Trial]:
    genuine, swaps = genuine_media(root), swap_media(root)
    if not genuine or not swaps:
        raise ValueError(f"{root}: no genuine or no deepfake videos in manifest.json")
    if quick:
        chosen = [m for m in genuine if m.path in QUICK_GENUINE] or genuine[:2]
        plan = [Trial(f"genuine@{QUICK_LUX:g}lux", Variant(Kind.GENUINE), m, QUICK_LUX, _seed("quick", m.path), model)
                for m in chosen]
        plan.append(Trial("replay", Variant(Kind.REPLAY), chosen[0], None, _seed("quick", "replay"), model))
        plan.append(Trial("swap", Variant(Kind.SWAP), swaps[0], None, _seed("quick", "swap"), model))
        return plan
    plan = []
    for lux in model.ambient_levels_lux:
        plan += [Trial(f"genuine@{lux:g}lux", Variant(Kind.GENUINE), _pick(genuine, k, sessions), lux,
                       _seed("genuine", lux, k), model) for k in range(sessions)]
    for variant in variants(model):
        if variant.kind is Kind.GENUINE:
            continue
        media = swaps if variant.kind is Kind.SWAP else genuine
        plan += [Trial(variant.name, variant, _pick(media, k, sessions), None, _seed(variant.name, k), model)
                 for k in range(sessions)]
    outline = dataclasses.replace(model, head_halo=OUTLINE_HALO)
    dim = model.ambient_levels_lux[0]
    plan += [Trial(f"genuine_outline@{dim:g}lux", Variant(Kind.GENUINE), _pick(genuine, k, sessions), dim,
                   _seed("genuine", dim, k), outline) for k in range(sessions)]
    return plan
