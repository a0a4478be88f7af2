"""What ``vigil eval`` plays: four kinds of user, the media of each, the subset and the full run.

The fixed configuration is the default one except for the challenge's action list, which is
what the annotated genuine person can perform (a person who cannot do an action would be
counted as a false rejection of the media, not of the system); see docs/evaluation.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from infra.eval.media import Media
from infra.eval.photos import HeldPhoto
from infra.eval.puppets import CooperativePerson, NaiveReplay, Performer
from shared.settings import Interaction

PAD = "pad_replay_tranvanluyt/videos__real.mp4"
PAD_FAKE = "pad_replay_tranvanluyt/videos__fake.mp4"
ZUBAIR = "pyimagesearch_liveness_zubair/videos__real.mov"
ZUBAIR_FAKE = "pyimagesearch_liveness_zubair/videos__fake.mp4"
PRINT = "silentface_minivision/images__sample__image_F1.jpg"
GENUINE_PHOTO = "silentface_minivision/images__sample__image_T1.jpg"
PORTRAIT = "cc0_portraits_interfaces/001.jpg"
DEEPFAKES = ("deepfake_polimi_icpr2020dfdc/ffpp_Deepfakes__519_515.mp4",
             "deepfake_polimi_icpr2020dfdc/ffpp_NeuralTextures__004_982.mp4")

PAD_ACTIONS = (Interaction.BLINK, Interaction.YAW_LEFT, Interaction.PITCH_UP)
TURNS = (Interaction.YAW_LEFT, Interaction.YAW_RIGHT)
REPLAY_S = 20.0  # a naive replay plays at most this much of its video (4 interaction timeouts)
# A held photo: at most this many frames, 30 s at a page's pace (10 frames/s), past the ~20.3 s in
# which the service ends such a session itself (three action timeouts). 200 until 2026-12-07: once
# frames were answered at the page's full pace, photo sessions reached it just before their end,
# and the run counted them as undecided instead of refused.
PHOTO_FRAMES = 300
PUPPET_FRAMES = 150


class Kind(StrEnum):
    GENUINE = "genuine"  # 1: a cooperative genuine person (bona fide)
    NAIVE_REPLAY = "naive_replay"  # 2: a recording played in order
    PHOTO = "photo"  # 3: a photo or print held up, flat or tilted
    SMART_REPLAY = "smart_replay"  # 4: a replay whose segments answer the prompts

    @property
    def attack(self) -> bool:
        return self is not Kind.GENUINE


@dataclass(frozen=True)
class Trial:
    kind: Kind
    media: str  # the file (and variant) played
    actions: tuple[Interaction, ...]  # the deployment's interaction_list
    make: Callable[[Media], Performer]
    max_frames: int
    puppet: bool  # answers the prompts frame by frame: run alone, so the machine's load is fair


def webcam_focal(width: int, horizontal_fov_deg: float = 78.0) -> float:
    return width / 2 / math.tan(math.radians(horizontal_fov_deg / 2))


def cooperative(path: str, actions: tuple[Interaction, ...], kind: Kind = Kind.GENUINE) -> Trial:
    return Trial(kind, path, actions, lambda m: CooperativePerson(m.clip(path), m.frames(path)), PUPPET_FRAMES,
                 puppet=True)


def naive(path: str, actions: tuple[Interaction, ...]) -> Trial:
    def make(media: Media) -> Performer:
        return NaiveReplay(media.clip(path), media.frames(path), duration_s=REPLAY_S)

    return Trial(Kind.NAIVE_REPLAY, path, actions, make, 400, puppet=False)


def photo(path: str, actions: tuple[Interaction, ...], *, tilt: bool, seed: int) -> Trial:
    def make(media: Media) -> Performer:
        still = media.still(path)
        return HeldPhoto(still, focal=webcam_focal(still.width), tilt=tilt, seed=seed)

    variant = "tilted" if tilt else "flat"
    return Trial(Kind.PHOTO, f"{path} ({variant})", actions, make, PHOTO_FRAMES, puppet=False)


def trials(*, full: bool, sessions: int) -> list[Trial]:
    """The subset (one deployment, the tranvanluyt pair) or the full run (a second deployment
    for the zubair pair, more photos, deepfake replays); ``sessions`` per kind and media."""
    reference = f"{PAD}#40"
    # Genuine sessions are cheap (2-4 s): three times as many, so each random order is likely drawn.
    plan: list[Trial] = [cooperative(PAD, PAD_ACTIONS) for _ in range(2 * sessions)]
    for n in range(sessions):
        plan += [cooperative(PAD, PAD_ACTIONS), cooperative(PAD_FAKE, PAD_ACTIONS, Kind.SMART_REPLAY),
                 naive(PAD, PAD_ACTIONS), naive(PAD_FAKE, PAD_ACTIONS),
                 photo(reference, PAD_ACTIONS, tilt=False, seed=n), photo(PRINT, PAD_ACTIONS, tilt=True, seed=n)]
        if full:
            plan += [photo(reference, PAD_ACTIONS, tilt=True, seed=n), photo(PRINT, PAD_ACTIONS, tilt=False, seed=n),
                     photo(GENUINE_PHOTO, PAD_ACTIONS, tilt=True, seed=n),
                     photo(PORTRAIT, PAD_ACTIONS, tilt=True, seed=n),
                     *(naive(path, PAD_ACTIONS) for path in DEEPFAKES),
                     cooperative(ZUBAIR, TURNS), naive(ZUBAIR, TURNS), naive(ZUBAIR_FAKE, TURNS),
                     photo(f"{ZUBAIR}#198", TURNS, tilt=True, seed=n)]
    return plan
