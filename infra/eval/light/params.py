"""Every parameter of the SIMULATED light-challenge evaluation, in one frozen dataclass.

``LightModel`` holds the physics (screen, skin, cornea, camera) and the timing (network, display,
camera clock) as ranges; ``SessionDraw`` is one session's draw from those ranges. Both are printed
with the figures (``vigil eval light`` writes them into var/eval/light.json), because a figure
measured on simulated relighting says something about this model, not about real cameras.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

Range = tuple[float, float]


@dataclass(frozen=True)
class LightModel:
    # The screen: a laptop panel, camera on the bezel just above its top edge, facing the person.
    screen_width_m: float = 0.30
    screen_height_m: float = 0.19
    screen_luminance_cd_m2: float = 250.0  # full white; a colour scales it by its linear RGB
    camera_above_screen_m: float = 0.01
    patches_per_quadrant: tuple[int, int] = (4, 3)  # columns, rows: the numerical integration grid
    face_distance_m: Range = (0.30, 0.60)
    wall_distance_m: Range = (1.0, 2.0)  # behind the face: the background
    # Around the face hull the head goes on (hair, ears, neck) at the face's distance, facing the
    # camera: this share of the face's width, then a fade to the wall over the second share. The
    # default treats everything outside the hull as the wall (the brief's model, a soft edge only);
    # ``vigil eval light`` also reports genuine sessions with an outline (HEAD_OUTLINE).
    head_halo: tuple[float, float] = (0.0, 0.03)
    # Skin: Lambertian, albedo = the video frame's own colour / ambient; Blinn-Phong sheen.
    skin_albedo: float = 0.45  # mean albedo assumed to turn the frame's brightness into a camera gain
    specular_ks: float = 0.03  # ~ Fresnel reflectance of skin at normal incidence (0.028)
    specular_shininess: float = 30.0
    # Cornea: a convex mirror (Gullstrand's 7.8 mm radius), 2.5 % reflectance, 11.7 mm iris.
    cornea_radius_m: float = 0.0078
    cornea_reflectance: float = 0.025
    iris_diameter_m: float = 0.0117
    # Ambient illuminance on the face: genuine sessions at each level (log scale); attackers choose
    # their room, so attacks draw a dim one (the screen weighs most there).
    ambient_levels_lux: tuple[float, ...] = (20.0, 50.0, 125.0, 300.0, 800.0, 2000.0)
    attack_ambient_lux: Range = (20.0, 200.0)
    # The webcam.
    camera_fps: float = 30.0
    exposure_ms: float = 1000.0 / 60.0
    ae_tau_ms: float = 300.0  # auto-exposure: first-order drift of the gain towards the target mean
    awb_tau_ms: float = 600.0  # auto white balance: grey-world drift of the channel gains
    full_well_e: float = 4000.0  # electrons at full scale when the scene gets noise_reference_lux
    noise_reference_lux: float = 500.0
    read_noise: float = 0.002  # linear units, at noise_reference_lux (scaled up with the gain)
    jpeg_quality: int = 90  # what the page sends (jpegQuality 0.9)
    frame_box: tuple[int, int] = (640, 480)  # the page fits frames into this box (portrait: swapped)
    # Timing, in ms.
    rtt_ms: Range = (40.0, 150.0)
    processing_ms: Range = (30.0, 80.0)  # estimator + plugins + decider for one frame
    jitter_ms: float = 10.0  # per-frame network jitter (uniform +-)
    encode_ms: Range = (5.0, 15.0)  # canvas draw + JPEG encode on the page
    vsync_ms: float = 1000.0 / 60.0
    display_latency_ms: Range = (10.0, 40.0)  # paint (rAF) to light leaving the panel
    camera_delivery_ms: Range = (10.0, 30.0)  # end of exposure to the frame reaching the page
    # Where the camera stamps captureTime, after the exposure starts: unknown to the page.
    timestamp_offset_ms: Range = (0.0, 33.0)
    settle_ms: float = 60.0  # the page's wait after a paint before the frame it sends
    frame_interval_ms: float = 100.0  # the page's minimum interval between frames
    # Sessions.
    max_frames: int = 120
    mirrored_share: float = 0.5
    footage_s: float = 10.0  # the part of each video kept and played (more than a challenge needs)
    # A cooperative person holds still while the light runs: sessions play such a stretch of the
    # video (stillness.py); 0 plays the whole video.
    still_window_s: float = 1.5
    still_pose_deg: float = 5.0
    still_frontal_deg: float = 15.0  # ... looking at the screen: the stretch's median pose within this
    hand_shift_px: float = 4.0  # a held print: smooth hand motion
    hand_roll_deg: float = 1.5
    injected_latency_ms: tuple[float, ...] = (100.0, 200.0, 300.0, 500.0)


@dataclass(frozen=True)
class SessionDraw:
    """One session's conditions, drawn from ``LightModel``'s ranges."""

    seed: int
    ambient_lux: float
    face_distance_m: float
    wall_distance_m: float
    mirrored: bool
    rtt_ms: float
    processing_ms: float
    display_latency_ms: float
    camera_delivery_ms: float
    timestamp_offset_ms: float
    camera_phase_ms: float  # first exposure start within a frame period
    vsync_phase_ms: float
    start_s: float  # the source video's content time at the session's start

    @classmethod
    def draw(cls, model: LightModel, seed: int, *, ambient_lux: float | None = None) -> SessionDraw:
        rng = random.Random(seed)

        def pick(span: Range) -> float:
            return rng.uniform(*span)

        low, high = model.attack_ambient_lux
        ambient = ambient_lux if ambient_lux is not None else math.exp(rng.uniform(math.log(low), math.log(high)))
        return cls(seed=seed, ambient_lux=ambient, face_distance_m=pick(model.face_distance_m),
                   wall_distance_m=pick(model.wall_distance_m), mirrored=rng.random() < model.mirrored_share,
                   rtt_ms=pick(model.rtt_ms), processing_ms=pick(model.processing_ms),
                   display_latency_ms=pick(model.display_latency_ms),
                   camera_delivery_ms=pick(model.camera_delivery_ms),
                   timestamp_offset_ms=pick(model.timestamp_offset_ms),
                   camera_phase_ms=rng.uniform(0, 1000.0 / model.camera_fps),
                   vsync_phase_ms=rng.uniform(0, model.vsync_ms), start_s=rng.uniform(0, 10))
