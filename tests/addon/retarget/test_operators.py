"""The retarget operators in the installed extension: bone map stored on the target,
editable rows honoured, clear errors, failures leave the scene as it was."""

from __future__ import annotations

import bpy
import pytest

from addon import keys

pytestmark = pytest.mark.compat42


def _select(source, target):
    for o in bpy.context.view_layer.objects:
        o.select_set(False)
    if target is not None:
        target.select_set(True)
    source.select_set(True)
    bpy.context.view_layer.objects.active = source


def test_retarget_operator_with_edited_bone_map(ext, scene, rigs):
    source, target = rigs.source(frames=12), rigs.mixamo()
    _select(source, target)
    assert bpy.ops.video_mocap.retarget_map() == {"FINISHED"}
    rows = target.data.video_mocap_bone_map
    assert len(rows) == 55
    by_joint = {r.joint: r for r in rows}
    assert by_joint["left_knee"].bone == "mixamorig:LeftLeg"
    assert by_joint["jaw"].bone == ""                        # Mixamo has no jaw
    by_joint["left_index3"].bone = ""                        # the user unmaps a bone in the list
    assert bpy.ops.video_mocap.retarget() == {"FINISHED"}
    paths = {fc.data_path for fc in keys.owner_fcurves(target)}
    assert 'pose.bones["mixamorig:LeftHandIndex2"].rotation_quaternion' in paths
    assert 'pose.bones["mixamorig:LeftHandIndex3"].rotation_quaternion' not in paths
    from importlib import import_module
    assert "UNDO" in import_module(f"{ext.__name__}.operators.retarget").VIDEOMOCAP_OT_retarget.bl_options


def test_retarget_operator_errors_leave_the_scene_unchanged(ext, scene, rigs):
    source, target = rigs.source(frames=12), rigs.mixamo()
    _select(source, None)
    with pytest.raises(RuntimeError, match="select exactly one target armature"):
        bpy.ops.video_mocap.retarget()
    _select(source, target)
    bpy.ops.video_mocap.retarget_map()
    next(r for r in target.data.video_mocap_bone_map if r.joint == "left_knee").bone = ""
    actions_before = set(bpy.data.actions)
    with pytest.raises(RuntimeError, match="unmapped core joints: left_knee"):
        bpy.ops.video_mocap.retarget()
    next(r for r in target.data.video_mocap_bone_map if r.joint == "left_knee").bone = "mixamorig:Nope"
    with pytest.raises(RuntimeError, match="mixamorig:Nope"):
        bpy.ops.video_mocap.retarget()
    assert set(bpy.data.actions) == actions_before
    assert target.animation_data is None or target.animation_data.action is None
    source.animation_data.action = None
    next(r for r in target.data.video_mocap_bone_map if r.joint == "left_knee").bone = "mixamorig:LeftLeg"
    with pytest.raises(RuntimeError, match="no animation"):
        bpy.ops.video_mocap.retarget()
