"""Editing operators in the installed extension: results, clear errors, nothing changed on failure."""

from __future__ import annotations

import bpy
import pytest

from addon import keys

pytestmark = pytest.mark.compat42


def _key_count(obj):
    return sum(len(fc.keyframe_points) for fc in keys.owner_fcurves(obj))


def test_edit_operators(ext, avatar, tmp_path):
    obj = avatar.armature
    before = _key_count(obj)
    assert bpy.ops.video_mocap.reduce_keys(rotation_deg=1.0, location_mm=2.0) == {"FINISHED"}
    assert _key_count(obj) < 0.6 * before
    assert bpy.ops.video_mocap.smooth_range(frame_start=20, frame_end=50, sigma=1.5) == {"FINISHED"}
    reduced = _key_count(obj)
    with pytest.raises(RuntimeError, match="cannot merge"):
        bpy.ops.video_mocap.merge_take(filepath=str(tmp_path / "missing.npz"))
    assert _key_count(obj) == reduced
    assert bpy.ops.video_mocap.take_to_nla() == {"FINISHED"}
    assert obj.animation_data.action is None and len(obj.animation_data.nla_tracks) == 1
    with pytest.raises(RuntimeError, match="no active take"):
        bpy.ops.video_mocap.reduce_keys()
