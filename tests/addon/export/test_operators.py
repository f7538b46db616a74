"""Export operators in the installed extension."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

pytestmark = pytest.mark.compat42


def test_export_operators(ext, avatar, tmp_path):
    bpy.context.view_layer.objects.active = avatar.armature
    path = tmp_path / "take.bvh"
    assert bpy.ops.video_mocap.export_animation(filepath=str(path), format="BVH") == {"FINISHED"}
    assert path.read_text().startswith("HIERARCHY")
    amass = tmp_path / "take.npz"
    assert bpy.ops.video_mocap.export_amass(filepath=str(amass)) == {"FINISHED"}
    assert np.load(amass)["poses"].shape == (24, 165)
    empty = bpy.data.objects.new("empty", bpy.data.armatures.new("empty"))
    bpy.context.scene.collection.objects.link(empty)
    bpy.context.view_layer.objects.active = empty
    with pytest.raises(RuntimeError, match="not an SMPL-X avatar"):
        bpy.ops.video_mocap.export_amass(filepath=str(tmp_path / "bad.npz"))
    assert not (tmp_path / "bad.npz").exists()
