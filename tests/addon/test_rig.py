"""addon/rig.py: rigs from motion-file arrays, checked through Blender's own evaluation."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon import keys, rig
from addon.camera import camera_to_blender
from addon.motion_file import validate_motion
from addon.operators.apply import people_from_motion

pytestmark = pytest.mark.compat42


def _take(empty_scene) -> bpy.types.Collection:
    collection = bpy.data.collections.new("Take")
    empty_scene.collection.children.link(collection)
    return collection


def _build(motion_tools, empty_scene, subject="body", frames=6):
    arrays = motion_tools.make(frames=frames, people=1, subject=subject)
    person = people_from_motion(validate_motion(arrays))[0]
    m = validate_motion(arrays)
    avatar = rig.build_avatar("P", _take(empty_scene), joint_names=m.avatar.joint_names, parents=m.avatar.parents,
                              rest_joints=person.rest_joints, rest_vertices=person.rest_vertices,
                              faces=m.avatar.faces, skin_indices=m.avatar.skin_indices,
                              skin_weights=m.avatar.skin_weights)
    return arrays, person, avatar


@pytest.mark.parametrize("subject", ["body", "hands"])
def test_rest_pose_and_skin_come_from_the_file(motion_tools, empty_scene, subject):
    arrays, person, avatar = _build(motion_tools, empty_scene, subject)
    data = avatar.armature.data
    names = [str(n) for n in arrays["avatar/joint_names"]]
    assert [b.name for b in data.bones if b.name in names] and sorted(b.name for b in data.bones) == sorted(names)
    for j, name in enumerate(names):
        bone = data.bones[name]
        np.testing.assert_allclose(np.array(bone.head_local), person.rest_joints[j], atol=1e-6)
        parent = arrays["avatar/parents"][j]
        assert (bone.parent.name if bone.parent else None) == (names[parent] if parent >= 0 else None)
        np.testing.assert_allclose(np.array(bone.matrix_local), avatar.rest_matrices[j], atol=1e-6)
    mesh = avatar.mesh
    assert mesh.parent == avatar.armature and mesh.modifiers[0].object == avatar.armature
    np.testing.assert_allclose(np.array([v.co for v in mesh.data.vertices]), person.rest_vertices, atol=1e-6)
    weights = np.zeros((len(mesh.data.vertices), len(names)))
    for v in mesh.data.vertices:
        for g in v.groups:
            weights[v.index, names.index(mesh.vertex_groups[g.group].name)] = g.weight
    want = np.zeros_like(weights)
    for k in range(4):
        np.add.at(want, (np.arange(len(want)), arrays["avatar/skin_indices"][:, k]), arrays["avatar/skin_weights"][:, k])
    np.testing.assert_allclose(weights, want, atol=1e-6)


@pytest.mark.parametrize("subject", ["body", "hands"])
def test_keys_reproduce_forward_kinematics_in_blender(motion_tools, empty_scene, subject):
    """Blender's own pose evaluation of the written keys puts every joint where the contract's
    forward kinematics (camera frame, converted by camera_to_blender) puts it, at every frame."""
    arrays, person, avatar = _build(motion_tools, empty_scene, subject, frames=8)
    location, quats = rig.pose_keys(avatar, person.global_orient, person.transl, person.local_rotations)
    frames = np.arange(1.0, 9.0)
    keys.write_channels(avatar.armature, frames, rig.pose_channels(avatar, location, quats))
    want = camera_to_blender(motion_tools.fk(arrays, 0))[..., :3, 3]  # (T,J,3) world
    world = np.array(avatar.armature.matrix_world)
    for t in range(8):
        empty_scene.frame_set(t + 1)
        heads = np.array([world @ np.r_[np.array(avatar.armature.pose.bones[n].head), 1.0]
                          for n in avatar.bone_names])[:, :3]
        np.testing.assert_allclose(heads, want[t], atol=2e-5)


def test_skinned_mesh_follows_linear_blend_skinning(motion_tools, empty_scene):
    arrays, person, avatar = _build(motion_tools, empty_scene, "body", frames=3)
    location, quats = rig.pose_keys(avatar, person.global_orient, person.transl, person.local_rotations)
    keys.write_channels(avatar.armature, np.arange(1.0, 4.0), rig.pose_channels(avatar, location, quats))
    g = motion_tools.fk(arrays, 0)  # (T,J,4,4) camera frame
    rest = person.rest_joints
    relative = g.copy()
    relative[..., :3, 3] -= np.einsum("tjab,jb->tja", g[..., :3, :3], rest)
    v = np.c_[person.rest_vertices, np.ones(len(person.rest_vertices))]
    idx, w = arrays["avatar/skin_indices"], arrays["avatar/skin_weights"]
    empty_scene.frame_set(2)
    blended = np.einsum("vk,vkab->vab", w, relative[1][idx])
    want = camera_to_blender(np.eye(4))[:3, :3] @ np.einsum("vab,vb->va", blended, v)[:, :3].T
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = avatar.mesh.evaluated_get(depsgraph)
    mw = np.array(evaluated.matrix_world)
    got = np.array([(mw @ np.r_[np.array(vert.co), 1.0])[:3] for vert in evaluated.data.vertices])
    np.testing.assert_allclose(got, want.T, atol=2e-5)


def test_quaternion_helpers_agree():
    rng = np.random.default_rng(3)
    aa = rng.normal(size=(200, 3)) * 2.0
    q = rig.axis_angle_to_quat(aa)
    m = rig.quat_to_matrix(q)
    q2 = rig.matrix_to_quat(m)
    np.testing.assert_allclose(np.abs(np.sum(q * q2, axis=-1)), 1.0, atol=1e-9)
    np.testing.assert_allclose(rig.quat_to_matrix(rig.quat_multiply(q[:-1], q[1:])), m[:-1] @ m[1:], atol=1e-9)
    flipped = q * np.where(rng.random(200) > 0.5, -1.0, 1.0)[:, None]
    continuous = rig.make_continuous(flipped[:, None])[:, 0]
    assert np.all(np.sum(continuous[1:] * continuous[:-1], axis=-1) >= 0.0)
    np.testing.assert_allclose(np.abs(np.sum(continuous * q, axis=-1)), 1.0, atol=1e-12)


def test_bad_skeleton_is_refused(empty_scene):
    with pytest.raises(ValueError, match="parents"):
        rig.build_avatar("X", _take(empty_scene), joint_names=["a", "b"], parents=np.array([1, 0]),
                         rest_joints=np.zeros((2, 3)))
