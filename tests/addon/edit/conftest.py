"""An SMPL-X avatar with a baked take (the ``avatar_tools`` of tests/addon/conftest.py)."""

from __future__ import annotations

import math

import bpy
import numpy as np
import pytest

from models.skeleton import SMPLX_PARENTS

FRAMES = 96


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
def avatar(empty_scene, avatar_tools):  # noqa: ANN001
    rest = avatar_tools.skeleton(np.random.default_rng(3), SMPLX_PARENTS, spread=0.05, rise=0.08)
    av = avatar_tools.bake(empty_scene, rest, *motion(FRAMES), action_name="take1")
    bpy.context.view_layer.objects.active = av.armature
    return av


@pytest.fixture
def make_motion_rows():
    """``motion(frames, seed, noise)`` -> (global_orient, transl, local rotations)."""
    return motion
