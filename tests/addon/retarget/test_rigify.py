"""Retarget onto the real Rigify rig generated from Blender's bundled human metarig."""

from __future__ import annotations

import bpy
import pytest

from addon.retarget import mapping, measure, rigify, transfer
from addon.retarget.names import auto_match

FRAMES = range(1, 25)


def _parents(obj):
    return {b.name: (b.parent.name if b.parent else None) for b in obj.data.bones}


@pytest.mark.slow
# Not in the bpy 4.2 subset: after Rigify generates a rig, bpy 4.2.23 segfaults at process
# exit (measured: every test passes, then exit code 139), which would fail the run.
def test_rigify_fk_controls_drive_the_deform_bones(scene, rigs):
    source = rigs.source(frames=24)
    target = rigs.rigify()
    parents = _parents(target)
    assert mapping.detect_preset(parents) == "RIGIFY"
    found = mapping.build_mapping(parents)
    assert found["left_shoulder"] == "upper_arm_fk.L" and found["right_index3"] == "f_index.03.R"
    src_joints = mapping.source_joints(_parents(source))
    rows = mapping.check_mapping(found, parents, src_joints)
    result = transfer.bake_retarget(bpy.context, source, target, rows, FRAMES, settings=rigify.SETTINGS)
    assert result.settings_changed == {b: {"IK_FK": 1.0} for b in rigify.SETTINGS}

    # measure on what deforms the mesh: the DEF- bones
    deform = auto_match({b.name: (b.parent.name if b.parent else None)
                         for b in target.data.bones if b.name.startswith("DEF-")})
    deform.update(pelvis="DEF-spine", head="DEF-spine.006")
    q = measure.measure_retarget(bpy.context, source, target, src_joints, deform, FRAMES, rigs.fps)
    print("rigify:", *q.lines(), f"bake {result.seconds:.1f} s for {len(FRAMES)} frames")
    assert q.effector_mean < 0.05 and q.effector_max < 0.08
    assert q.slide_target < 0.005   # m/s while the source's feet are planted
    # the DEF hand follows the keyed FK control (limbs switched to FK)
    bpy.context.scene.frame_set(12)
    ctrl, dfm = target.pose.bones["hand_fk.L"], target.pose.bones["DEF-hand.L"]
    assert (ctrl.head - dfm.head).length < 1e-4
