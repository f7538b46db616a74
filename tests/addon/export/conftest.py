"""An animated SMPL-X avatar and round-trip comparison for the export tests."""

from __future__ import annotations

import math

import bpy
import numpy as np
import pytest

from models.skeleton import SMPLX_PARENTS

FRAMES = 24


def motion(frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    t = np.arange(frames)[:, None, None] / 24.0
    local = rng.uniform(0.1, 0.6, (1, 55, 3)) * np.sin(2 * math.pi * rng.uniform(0.2, 0.8, (1, 55, 3)) * t
                                                        + rng.uniform(0, 6, (1, 55, 3)))
    go = np.tile([math.pi, 0.0, 0.0], (frames, 1)) + 0.3 * np.sin(t[:, 0] * [1.0, 0.7, 0.3])
    transl = np.array([0.2, -0.1, 3.0]) + 0.4 * np.sin(t[:, 0] * [0.9, 0.5, 0.4])
    return go, transl, local


@pytest.fixture
def avatar(empty_scene, avatar_tools):  # noqa: ANN001
    """A humanoid-ish SMPL-X avatar (random but fixed) keyed with :func:`motion`; ``av.motion`` holds it."""
    rest = avatar_tools.skeleton(np.random.default_rng(5), SMPLX_PARENTS, spread=0.04, rise=0.09)
    go, transl, local = motion(FRAMES)
    av = avatar_tools.bake(empty_scene, rest, go, transl, local, action_name="take")
    av.motion = (go, transl, local)
    return av


def world_poses(obj: bpy.types.Object, bones: list[str], frames: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """World-space (rotation deltas from rest (F,N,3,3), head positions (F,N,3)) of bones."""
    rest = [np.array(obj.matrix_world @ obj.data.bones[b].matrix_local) for b in bones]
    rest_r = [np.linalg.svd(r[:3, :3]) for r in rest]
    rest_r = np.array([u @ vt for u, _, vt in rest_r])
    rots, heads = [], []
    for f in frames:
        bpy.context.scene.frame_set(f)
        m = np.array([np.array(obj.matrix_world @ obj.pose.bones[b].matrix) for b in bones])
        u, _, vt = np.linalg.svd(m[:, :3, :3])
        rots.append((u @ vt) @ np.swapaxes(rest_r, -1, -2))
        heads.append(m[:, :3, 3])
    return np.array(rots), np.array(heads)


def round_trip_errors(original: bpy.types.Object, imported: bpy.types.Object, frames: list[int],
                      offset: int = 0) -> tuple[float, float, float]:
    """(max rotation error deg, mean rotation error deg, max head position error m) between
    the original and the re-imported armature, world space, over shared bone names.
    Rotations are the bones' world rotations over time, compared up to a constant per-bone
    axis change (fixed on the first frame)."""
    bones = [b.name for b in original.data.bones if b.name in imported.data.bones]
    assert len(bones) >= 0.9 * len(original.data.bones), "bones lost in the round trip"
    r0, h0 = world_poses(original, bones, frames)
    r1, h1 = world_poses(imported, bones, [f + offset for f in frames])
    # importers may choose other bone axes and rest poses (FBX bind pose): the world
    # rotations must then differ by one constant per bone, taken from the first frame
    r0 = r0 @ (np.swapaxes(r0[:1], -1, -2) @ r1[:1])
    rel = np.swapaxes(r0, -1, -2) @ r1
    ang = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))
    return float(ang.max()), float(ang.mean()), float(np.linalg.norm(h0 - h1, axis=-1).max())


@pytest.fixture
def round_trip():
    return round_trip_errors
