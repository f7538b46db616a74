"""An SMPL-X avatar with a baked squat take (built with addon.rig and addon.keys)."""

from __future__ import annotations

import math

import bpy
import numpy as np
import pytest

from addon import keys, rig
from models.skeleton import SMPLX_JOINT_NAMES, SMPLX_PARENTS

FRAMES = 96


def _rest() -> np.ndarray:
    """Plausible rest joints (metres, model frame): a tree grown from the pelvis."""
    rng = np.random.default_rng(3)
    rest = np.zeros((55, 3))
    for j in range(1, 55):
        rest[j] = rest[SMPLX_PARENTS[j]] + rng.normal(size=3) * 0.05 + np.array([0.0, 0.08, 0.0])
    return rest


def motion(frames: int, seed: int = 0, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smooth motion (sums of slow sines) plus optional per-frame noise (radians / metres)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None, None] / 24.0
    amp, freq, phase = rng.uniform(0.1, 0.5, (1, 55, 3)), rng.uniform(0.2, 0.6, (1, 55, 3)), rng.uniform(0, 6, (1, 55, 3))
    local = amp * np.sin(2 * math.pi * freq * t + phase) + noise * rng.normal(size=(frames, 55, 3))
    go = np.tile([math.pi, 0.0, 0.0], (frames, 1)) + 0.2 * np.sin(t[:, 0] * [1.0, 0.7, 0.3])
    transl = np.array([0.0, 0.0, 3.0]) + 0.3 * np.sin(t[:, 0] * [0.9, 0.5, 0.4]) + noise * rng.normal(size=(frames, 3))
    return go, transl, local


@pytest.fixture
def avatar(empty_scene):  # noqa: ANN001
    scene = empty_scene
    scene.render.fps = 24
    scene.frame_start, scene.frame_end = 1, FRAMES
    av = rig.build_avatar("capture", scene.collection, joint_names=SMPLX_JOINT_NAMES,
                          parents=np.array(SMPLX_PARENTS), rest_joints=_rest())
    go, transl, local = motion(FRAMES)
    location, quats = rig.pose_keys(av, go, transl, local)
    keys.write_channels(av.armature, np.arange(1, FRAMES + 1, dtype=np.float64),
                        rig.pose_channels(av, location, quats), action_name="take1")
    bpy.context.view_layer.objects.active = av.armature
    return av


@pytest.fixture
def make_motion_rows():
    """``motion(frames, seed, noise)`` -> (global_orient, transl, local rotations)."""
    return motion
