"""One source frame's light fields for a session: the face (geometry.py) in front of the screen
(screen.py), its corneas (cornea.py), and the flat or uniform variants the attacks need.

``FaceGeometry`` is what the real models (YuNet, face mesh, iris) found on the *source* frame,
before any relighting; the estimator measures the relit frame again from scratch (measure.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from infra.eval.light.cornea import Stamp, stamp
from infra.eval.light.geometry import Array, sheen_weights, surface, vertex_normals
from infra.eval.light.params import LightModel, SessionDraw
from infra.eval.light.relight import FrameLight, frame_gain, grid_sample
from infra.eval.light.screen import Screen
from services.estimator.models.iris import Eyes


@dataclass(frozen=True)
class FaceGeometry:
    landmarks: npt.NDArray[np.float32]  # (468, 3) image pixels (face mesh)
    eyes: Eyes | None  # the iris model's answer


@dataclass(frozen=True)
class CanonicalFace:
    vertices: npt.NDArray[np.float32]
    normals: Array
    sheen: Array

    @classmethod
    def of(cls, vertices: npt.NDArray[np.float32]) -> CanonicalFace:
        return cls(vertices, vertex_normals(vertices), sheen_weights(vertices))


@dataclass(frozen=True)
class Stage:
    """A session's fixed physical set-up."""

    model: LightModel
    draw: SessionDraw
    screen: Screen
    wall: Array  # (4,) lux per cd/m^2 on the wall behind the person

    @classmethod
    def of(cls, model: LightModel, draw: SessionDraw) -> Stage:
        screen = Screen.build(model, draw.face_distance_m)
        return cls(model, draw, screen, screen.wall(draw.wall_distance_m))


def face_light(stage: Stage, canonical: CanonicalFace, geometry: FaceGeometry, base: Array, *,
               flat: bool = False) -> FrameLight:
    """A real face (or, ``flat``: a print of it facing the screen centre, no sheen, no cornea)."""
    shape = (base.shape[0], base.shape[1])
    model = stage.model
    face = surface(geometry.landmarks, canonical.vertices, canonical.normals, canonical.sheen, shape,
                   model.head_halo, flat_towards=stage.screen.centre if flat else None)
    irradiance, sheen = np.zeros((4, *face.skin.shape)), np.zeros((4, *face.skin.shape))
    near = face.person > 0  # the head's outline: facing the camera, at the face's distance
    outline = np.zeros_like(face.normals[near])
    outline[:, 2] = 1.0
    irradiance[:, near] = stage.screen.irradiance(face.points[near], outline)
    on_face = face.skin > 0
    points, normals = face.points[on_face], face.normals[on_face]
    irradiance[:, on_face] = (face.skin[on_face] * stage.screen.irradiance(points, normals)
                              + (1 - face.skin[on_face]) * irradiance[:, on_face])
    if not flat:
        sheen[:, on_face] = stage.screen.sheen(points, normals, model.specular_ks, model.specular_shininess)
        sheen *= (face.sheen * face.skin)[None]
    gain = frame_gain(grid_sample(base), face.skin, stage.draw.ambient_lux, model.skin_albedo)
    stamps = () if flat or geometry.eyes is None else _stamps(stage, geometry, face.metres_per_px, shape)
    return FrameLight(face=irradiance, skin=face.skin, person=face.person, wall=stage.wall, sheen=sheen,
                      stamps=stamps, gain=gain)


def _stamps(stage: Stage, geometry: FaceGeometry, metres_per_px: float, shape: tuple[int, int]) -> tuple[Stamp, ...]:
    assert geometry.eyes is not None
    centre = geometry.landmarks[:, :2].astype(np.float64).mean(axis=0)
    found = []
    for eye in (geometry.eyes.right, geometry.eyes.left):
        iris = eye.iris_centre.astype(np.float64)
        # The eye's scene position: in the face's plane, a centimetre in front of the mean depth.
        point = np.array([(iris[0] - centre[0]) * metres_per_px, -(iris[1] - centre[1]) * metres_per_px, 0.01])
        spot = stamp(stage.screen, stage.model, iris, point, eye.eyelids[:, :2].astype(np.float64), metres_per_px,
                     shape)
        if spot is not None:
            found.append(spot)
    return tuple(found)


def background_light(stage: Stage, base: Array) -> FrameLight:
    """A frame where the source shows no face: the whole picture is lit as the wall."""
    grid = grid_sample(base)
    none = np.zeros(grid.shape[:2])
    zero = np.zeros((4, *none.shape))
    return FrameLight(face=zero, skin=none, person=none, wall=stage.wall, sheen=zero, stamps=(),
                      gain=frame_gain(grid, none, stage.draw.ambient_lux, stage.model.skin_albedo))


def uniform_tint(light: FrameLight, stage: Stage) -> FrameLight:
    """A screen filmed while the flash lights it: one flat response everywhere, no shading."""
    flat = stage.screen.irradiance(np.zeros((1, 3)), _towards(stage.screen.centre))[:, 0]
    field = np.broadcast_to(flat[:, None, None], light.face.shape).copy()
    return replace(light, face=field, person=np.ones_like(light.person), wall=flat, sheen=np.zeros_like(field),
                   stamps=())


def carried_over(light: FrameLight) -> FrameLight:
    """A real-time swap: the driver's mean face response, spread evenly over the rendered face;
    the face's own shading, asymmetry, sheen and corneal highlights are lost; background as is."""
    weight = light.skin.sum()
    mean = (light.face * light.skin).sum(axis=(1, 2)) / max(float(weight), 1.0)
    field = light.skin * mean[:, None, None] + (1 - light.skin) * light.face
    return replace(light, face=field, sheen=np.zeros_like(field), stamps=())


def _towards(point: Array) -> Array:
    return np.asarray((point / np.linalg.norm(point))[None, :])
