"""The ground-truth sample set: figures, motions and cameras of each sample.

World frame of every scene: metres, y up, the floor is the plane y = 0; a figure
with yaw 0 faces +z. Cameras are placed with :func:`look_at`-style position and
target; focal lengths are in millimetres on a 36 mm wide sensor (full frame).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from samples import motions as mo

SENSOR_MM = 36.0
RestJoints = Callable[[np.ndarray], np.ndarray]
"""(10,) betas -> (55,3) rest joints (model frame, metres) of the body model."""


@dataclass(frozen=True)
class CameraSpec:
    """A static perspective camera.

    Attributes:
        position, target: (3,) world points, metres (the camera looks at target, y up).
        focal_mm: focal length in millimetres on a ``sensor_mm`` wide sensor.
    """

    position: tuple[float, float, float]
    target: tuple[float, float, float]
    focal_mm: float
    sensor_mm: float = SENSOR_MM


@dataclass
class Figure:
    """One mannequin in a scene.

    Attributes:
        motion: scripted parameters (:class:`samples.motions.Motion`), T frames.
        start: (x, z) world position of the point between the ankles at frame 0.
        betas: (10,) SMPL-X shape coefficients.
        colour: linear RGB of the clothes (the rest of the figure is skin coloured).
        skin: linear RGB of head and hands.
    """

    motion: mo.Motion
    start: tuple[float, float]
    betas: np.ndarray
    colour: tuple[float, float, float]
    skin: tuple[float, float, float] = (0.80, 0.52, 0.36)


@dataclass
class Scene:
    """A sample: what is filmed and how.

    Attributes:
        size: (W, H) pixels.
        fps: frames per second.
        frames: number of frames T (every figure's motion has T frames).
        posts: (x, z) world positions (metres) of square posts standing on the floor
            (:data:`POST_SIZE`): vertical edges in view.
    """

    name: str
    description: str
    size: tuple[int, int]
    fps: float
    frames: int
    camera: CameraSpec
    figures: list[Figure]
    posts: tuple[tuple[float, float], ...] = ()


POST_SIZE = (0.2, 2.6)
"""Width and height of a scene's posts, metres."""


def _betas(*values: float) -> np.ndarray:
    out = np.zeros(10, dtype=np.float32)
    out[: len(values)] = values
    return out


BLUE = (0.05, 0.16, 0.55)
RED = (0.60, 0.06, 0.05)
GREEN = (0.05, 0.40, 0.10)
FPS = 30.0
SIZE = (640, 480)


def default(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """One figure walks a few steps toward the camera's left, turns to it and waves (35 mm, ~3.5 m)."""
    del rest_joints
    walk_yaw = np.deg2rad(-35.0)
    m = mo.concat([mo.walk(44, FPS, yaw=walk_yaw),
                   mo.turn(12, walk_yaw, 0.0),
                   mo.wave(34, FPS, side="right", hand_mean=hand_mean)], blend=[10, 20])
    return Scene("default", "one figure walks a few steps, turns to the camera and waves; 35 mm, ~3.5 m",
                 SIZE, FPS, len(m), CameraSpec((0.0, 1.4, 3.4), (0.3, 0.95, -0.5), 35.0),
                 [Figure(m, (0.9, -0.9), _betas(0.5, 0.3), BLUE)])


def closeup_24mm(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """One figure close to a wide lens: waves with the left hand, then a short crouch (24 mm, ~2.2 m)."""
    del rest_joints
    m = mo.concat([mo.wave(34, FPS, side="left", yaw=0.25, hand_mean=hand_mean),
                   mo.crouch(26, depth=0.6, yaw=0.25)], blend=20)
    return Scene("closeup_24mm", "one figure within ~2.2 m of a 24 mm lens (strong perspective)",
                 SIZE, FPS, len(m), CameraSpec((0.0, 1.15, 2.2), (0.0, 0.9, 0.0), 24.0),
                 [Figure(m, (0.0, 0.0), _betas(-0.8, 0.6, 0.2), RED)])


def medium_50mm(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """One figure waves, then crouches and stands up (50 mm, ~5 m)."""
    del rest_joints
    m = mo.concat([mo.stand(12), mo.wave(34, FPS, side="right", hand_mean=hand_mean), mo.crouch(48)],
                  blend=20)
    return Scene("medium_50mm", "one figure waves then crouches; 50 mm, ~5 m",
                 SIZE, FPS, len(m), CameraSpec((0.3, 1.3, 5.0), (0.0, 0.85, 0.0), 50.0),
                 [Figure(m, (0.0, 0.0), _betas(1.2, -0.4), GREEN)])


def long_85mm(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """One figure turns a full circle on the spot, far from a long lens (85 mm, ~9 m)."""
    del hand_mean, rest_joints
    m = mo.concat([mo.stand(8), mo.turn(56, 0.0, 2.0 * np.pi), mo.stand(8, yaw=2.0 * np.pi)], blend=6)
    return Scene("long_85mm", "one figure turns a full circle; 85 mm, ~9 m",
                 SIZE, FPS, len(m), CameraSpec((0.5, 1.6, 9.0), (0.0, 0.9, 0.0), 85.0),
                 [Figure(m, (0.0, 0.0), _betas(-0.3, -0.8, 0.5), BLUE)])


def hands_clap_35mm(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """Upper-body framing: two claps, then fingers interlocked in front of the chest (35 mm, ~1.9 m)."""
    betas = _betas(0.2, 0.1)
    m = mo.clap_interlock(90, hand_mean, rest_joints(betas), FPS, yaw=0.25)
    return Scene("hands_clap_35mm",
                 "upper body, turned 15 degrees: clap twice then interlock the fingers; 35 mm, ~1.9 m",
                 SIZE, FPS, len(m), CameraSpec((0.05, 1.4, 1.9), (0.0, 1.15, 0.0), 35.0),
                 [Figure(m, (0.0, 0.0), betas, RED)])


def three_people_50mm(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """Three figures of different shapes and colours walk across each other's paths (50 mm, ~8 m)."""
    del hand_mean, rest_joints
    n = 90
    a = mo.walk(n, FPS, yaw=np.deg2rad(90.0), phase=0.0)           # left to right (+x)
    b = mo.walk(n, FPS, yaw=np.deg2rad(-90.0), phase=0.3, period_s=1.0)
    c = mo.walk(n, FPS, yaw=np.deg2rad(160.0), phase=0.6, period_s=1.2)  # toward the camera
    figures = [
        Figure(a, (-1.6, 0.6), _betas(0.8, 0.5, -0.3), BLUE),
        Figure(b, (1.6, -0.6), _betas(-1.2, -0.5, 0.6), RED, skin=(0.55, 0.33, 0.20)),
        Figure(c, (0.5, -2.6), _betas(2.0, 1.0), GREEN, skin=(0.85, 0.62, 0.48)),
    ]
    return Scene("three_people_50mm", "three figures walk and cross (tracking, id switches); 50 mm, ~8 m",
                 SIZE, FPS, n, CameraSpec((0.0, 1.7, 8.0), (0.0, 0.8, -0.5), 50.0), figures)


SCENES: dict[str, Callable[[np.ndarray, RestJoints], Scene]] = {
    f.__name__: f for f in (default, closeup_24mm, medium_50mm, long_85mm, hands_clap_35mm,
                            three_people_50mm)
}
"""Sample name -> builder taking the mean hand (30,3) and the rest-joint function of the
body model ((10,) betas -> (55,3)), returning the :class:`Scene`."""


def _calibration(name: str, description: str, motion: mo.Motion, camera: CameraSpec, betas: np.ndarray,
                 colour: tuple[float, float, float], start: tuple[float, float] = (0.0, 0.0)) -> Scene:
    return Scene(name, description, SIZE, FPS, len(motion), camera, [Figure(motion, start, betas, colour)])


def cal_20mm(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """Calibration: waves with the right hand close to an ultra-wide lens (20 mm, ~1.9 m)."""
    del rest_joints
    m = mo.concat([mo.stand(8, yaw=-0.2),
                   mo.wave(40, FPS, side="right", yaw=-0.2, hand_mean=hand_mean)], blend=8)
    return _calibration("cal_20mm", "waves, 20 mm, ~1.9 m", m,
                        CameraSpec((0.2, 1.3, 1.9), (0.0, 0.9, 0.0), 20.0), _betas(0.4, -0.2), GREEN)


def cal_28mm_high(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """Calibration: waves and crouches under a camera looking down (28 mm, ~2.6 m, 2 m high)."""
    del rest_joints
    m = mo.concat([mo.wave(30, FPS, side="left", yaw=0.3, hand_mean=hand_mean),
                   mo.crouch(24, depth=0.8, yaw=0.3)], blend=12)
    return _calibration("cal_28mm_high", "waves and crouches, camera above, 28 mm, ~2.6 m", m,
                        CameraSpec((-0.3, 2.0, 2.5), (0.0, 0.8, 0.0), 28.0), _betas(-0.5, 0.4), BLUE)


def cal_35mm_low(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """Calibration: stands and waves before a low camera (35 mm, ~2.8 m, 0.9 m high)."""
    del rest_joints
    m = mo.concat([mo.stand(10, yaw=0.5),
                   mo.wave(40, FPS, side="right", yaw=0.5, hand_mean=hand_mean)], blend=8)
    return _calibration("cal_35mm_low", "waves, low camera, 35 mm, ~2.8 m", m,
                        CameraSpec((0.4, 0.9, 2.8), (0.0, 1.0, 0.0), 35.0), _betas(1.0, 0.2), RED)


def cal_24mm_walk(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """Calibration: walks across close to a wide lens (24 mm, ~2.5 m)."""
    del hand_mean, rest_joints
    m = mo.walk(50, FPS, yaw=np.deg2rad(70.0), phase=0.2)
    return _calibration("cal_24mm_walk", "walks across, 24 mm, ~2.5 m", m,
                        CameraSpec((0.0, 1.4, 2.5), (0.0, 0.9, 0.0), 24.0), _betas(-1.0, -0.3), RED,
                        (-0.8, 0.0))


def cal_24mm_posts(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """Calibration: walks across before posts, the camera square to the floor's tiles (24 mm,
    ~2.7 m): the tiles alone give no focal (one family is level in the image), the posts' vertical
    edges do."""
    del hand_mean, rest_joints
    m = mo.walk(50, FPS, yaw=np.deg2rad(-75.0), phase=0.6)
    scene = _calibration("cal_24mm_posts", "walks across before posts, square to the tiles, 24 mm, ~2.7 m", m,
                         CameraSpec((0.0, 1.5, 2.7), (0.0, 0.9, 0.0), 24.0), _betas(0.6, 0.5), GREEN,
                         (0.9, 0.2))
    scene.posts = tuple((x, z) for z in (-2.5, -4.5) for x in (-2.6, -1.3, 1.3, 2.6))
    return scene


def cal_50mm_walk(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """Calibration: walks toward the camera (50 mm, ~5 m)."""
    del hand_mean, rest_joints
    m = mo.walk(50, FPS, yaw=np.deg2rad(170.0), phase=0.5)
    return _calibration("cal_50mm_walk", "walks toward the camera, 50 mm, ~5 m", m,
                        CameraSpec((0.3, 1.5, 5.5), (0.0, 0.9, 0.0), 50.0), _betas(0.2, 0.8), GREEN,
                        (0.0, -1.5))


def cal_70mm(hand_mean: np.ndarray, rest_joints: RestJoints) -> Scene:
    """Calibration: turns half round then waves far from a long lens (70 mm, ~7 m)."""
    del rest_joints
    m = mo.concat([mo.turn(24, 0.0, np.pi / 2),
                   mo.wave(30, FPS, side="left", yaw=np.pi / 2, hand_mean=hand_mean)], blend=8)
    return _calibration("cal_70mm", "turns and waves, 70 mm, ~7 m", m,
                        CameraSpec((-0.5, 1.6, 7.0), (0.0, 0.9, 0.0), 70.0), _betas(-0.2, 0.1), BLUE)


CALIBRATION_SCENES: dict[str, Callable[[np.ndarray, RestJoints], Scene]] = {
    f.__name__: f for f in (cal_20mm, cal_28mm_high, cal_35mm_low, cal_24mm_walk, cal_24mm_posts,
                            cal_50mm_walk, cal_70mm)
}
"""Clips for calibrating estimators' constants (different lenses, camera heights and motions
from :data:`SCENES`, which stay held out for evaluation); made into ``.cache/calibration``."""
