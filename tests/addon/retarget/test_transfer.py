"""World-space retarget onto a Mixamo-named rig built here (other proportions, A-pose,
random rolls, FBX-like Y-up centimetre armature space), measured."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon import keys
from addon.retarget import mapping, measure, transfer

pytestmark = pytest.mark.compat42
FRAMES = range(1, 49)


def _parents(obj):
    return {b.name: (b.parent.name if b.parent else None) for b in obj.data.bones}


def _setup(rigs):
    source = rigs.source()
    target = rigs.mixamo()
    found = mapping.build_mapping(_parents(target))
    src_joints = mapping.source_joints(_parents(source))
    rows = mapping.check_mapping(found, _parents(target), src_joints)
    return source, target, found, src_joints, rows


def _world_dir(obj, head_bone, tail_bone):
    a = obj.matrix_world @ obj.pose.bones[head_bone].head
    b = obj.matrix_world @ obj.pose.bones[tail_bone].head
    return np.array((b - a).normalized())


def test_mixamo_retarget_quality_and_world_space_rotations(scene, rigs):
    source, target, found, src_joints, rows = _setup(rigs)
    result = transfer.bake_retarget(bpy.context, source, target, rows, FRAMES)
    assert target.animation_data.action == result.action
    assert result.scale == pytest.approx(1.41, abs=0.02)          # leg-length ratio of the test rig
    # every mapped bone keyed, fingers included, in its own rotation mode
    paths = {fc.data_path for fc in keys.owner_fcurves(target)}
    assert 'pose.bones["mixamorig:LeftHandIndex3"].rotation_quaternion' in paths
    assert 'pose.bones["mixamorig:LeftArm"].rotation_euler' in paths
    assert 'pose.bones["mixamorig:Hips"].location' in paths

    q = measure.measure_retarget(bpy.context, source, target, src_joints, found, FRAMES, rigs.fps)
    print("mixamo:", *q.lines())
    assert q.contact_fraction > 0.5
    assert q.slide_target_norm <= q.slide_source_norm + 1e-3      # feet slide no more than before
    assert q.effector_mean < 0.04 and q.effector_max < 0.06       # fraction of body height

    # limb bones point where the source's point (rest A-pose vs T-pose handled); the head
    # turns in the world exactly as the source's head
    for frame in (1, 13, 30):
        bpy.context.scene.frame_set(frame)
        for (sa, sb), (ta, tb) in [(("left_shoulder", "left_elbow"), ("LeftArm", "LeftForeArm")),
                                   (("right_elbow", "right_wrist"), ("RightForeArm", "RightHand")),
                                   (("left_index1", "left_index2"), ("LeftHandIndex1", "LeftHandIndex2"))]:
            d_s = _world_dir(source, sa, sb)
            d_t = _world_dir(target, f"mixamorig:{ta}", f"mixamorig:{tb}")
            assert np.degrees(np.arccos(np.clip(d_s @ d_t, -1, 1))) < 0.5, (frame, ta)
        delta = []
        for obj, bone in ((source, "head"), (target, "mixamorig:Head")):
            world = obj.matrix_world @ obj.pose.bones[bone].matrix
            rest = obj.matrix_world @ obj.data.bones[bone].matrix_local
            delta.append(world.to_quaternion() @ rest.to_quaternion().inverted())
        assert delta[0].rotation_difference(delta[1]).angle < np.radians(0.5)


def test_feet_ik_removes_sliding_from_other_leg_proportions(scene, rigs):
    source, target, found, src_joints, rows = _setup(rigs)
    transfer.bake_retarget(bpy.context, source, target, rows, FRAMES, feet_ik=False)
    plain = measure.measure_retarget(bpy.context, source, target, src_joints, found, FRAMES, rigs.fps)
    transfer.bake_retarget(bpy.context, source, target, rows, FRAMES, feet_ik=True)
    planted = measure.measure_retarget(bpy.context, source, target, src_joints, found, FRAMES, rigs.fps)
    print("mixamo without feet IK:", *plain.lines())
    assert plain.slide_target > 0.02            # thigh/shin ratio differs: rotations alone slide
    assert planted.slide_target < 0.1 * plain.slide_target


def test_failed_bake_leaves_the_target_as_it_was(scene, rigs):
    source, target, found, src_joints, rows = _setup(rigs)
    before = set(bpy.data.actions)
    target.pose.bones["mixamorig:Head"].rotation_quaternion = (0.9, 0.1, 0.0, 0.0)
    bad = rows + [("jaw", "jaw", "mixamorig:NoSuchBone")]
    with pytest.raises(transfer.RetargetError, match="NoSuchBone"):
        transfer.bake_retarget(bpy.context, source, target, bad, FRAMES)

    def explode(done, total):
        if done > 60:
            raise RuntimeError("cancelled by the test")

    with pytest.raises(RuntimeError, match="cancelled"):
        transfer.bake_retarget(bpy.context, source, target, rows, FRAMES, progress=explode)
    assert set(bpy.data.actions) == before
    assert target.animation_data is None or target.animation_data.action is None
    assert tuple(target.pose.bones["mixamorig:Head"].rotation_quaternion) == pytest.approx((0.9, 0.1, 0.0, 0.0))
    with pytest.raises(transfer.RetargetError, match="same armature"):
        transfer.bake_retarget(bpy.context, source, source, rows, FRAMES)


@pytest.mark.parametrize("vendor", ["UNREAL", "VRM"])
def test_unreal_and_vrm_rigs(scene, rigs, vendor):
    module = mapping.PRESETS[vendor]
    source, target = rigs.source(), rigs.vendor(module, vendor.lower())
    assert mapping.detect_preset(_parents(target)) == vendor
    found = mapping.build_mapping(_parents(target))
    src_joints = mapping.source_joints(_parents(source))
    rows = mapping.check_mapping(found, _parents(target), src_joints)
    result = transfer.bake_retarget(bpy.context, source, target, rows, FRAMES)
    assert result.scale == pytest.approx(0.9, abs=0.01)
    q = measure.measure_retarget(bpy.context, source, target, src_joints, found, FRAMES, rigs.fps)
    print(f"{vendor}:", *q.lines())
    # same proportions (scaled): the figure follows the source almost exactly
    assert q.effector_max < 0.01 and q.slide_target_norm <= q.slide_source_norm + 1e-3


def test_a_sliding_capture_slides_no_more_after_retargeting(scene, rigs):
    """Captured feet that slide (0.1 m/s drift) slide the same in leg lengths per second."""
    source = rigs.source(drift=0.1)
    target = rigs.mixamo()
    found = mapping.build_mapping(_parents(target))
    src_joints = mapping.source_joints(_parents(source))
    rows = mapping.check_mapping(found, _parents(target), src_joints)
    transfer.bake_retarget(bpy.context, source, target, rows, FRAMES)
    q = measure.measure_retarget(bpy.context, source, target, src_joints, found, FRAMES, rigs.fps)
    print("mixamo, sliding capture:", *q.lines())
    assert q.slide_source > 0.05
    assert q.slide_target_norm <= 1.02 * q.slide_source_norm
