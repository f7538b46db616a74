"""AMASS-style npz from the avatar's action: layout, and joints by the smplx rule equal
Blender's bones (the smplx package itself reads it in tests/core/test_amass_export.py)."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon.export.amass import AmassError, write_amass
from models.skeleton import SMPLX_PARENTS

pytestmark = pytest.mark.compat42


def _rodrigues(aa: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.where(angle < 1e-12, 1.0, angle)
    k = np.zeros(aa.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = axis[..., 2], -axis[..., 1], axis[..., 0]
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * k + (1 - c) * k @ k


def test_amass_npz_reproduces_the_avatar(avatar, tmp_path):
    path = tmp_path / "take.npz"
    write_amass(bpy.context, avatar.armature, str(path), betas=np.zeros(10))
    data = np.load(path, allow_pickle=False)
    frames = 24
    for key, shape in (("poses", (frames, 165)), ("trans", (frames, 3)), ("root_orient", (frames, 3)),
                       ("pose_body", (frames, 63)), ("pose_hand", (frames, 90)), ("pose_jaw", (frames, 3)),
                       ("pose_eye", (frames, 6)), ("betas", (10,))):
        assert data[key].shape == shape, key
    assert str(data["gender"]) == "neutral" and float(data["mocap_framerate"]) == 24.0
    # forward kinematics by the smplx rule: joints = chain of R_j about the rest joints J
    rest = avatar.rest_joints                                  # model frame = armature space
    rot = _rodrigues(data["poses"].reshape(frames, 55, 3))
    glob = np.zeros_like(rot)
    pos = np.zeros((frames, 55, 3))
    for j, p in enumerate(SMPLX_PARENTS):
        if p < 0:
            glob[:, 0], pos[:, 0] = rot[:, 0], rest[0] + data["trans"]
        else:
            glob[:, j] = glob[:, p] @ rot[:, j]
            pos[:, j] = pos[:, p] + np.einsum("fij,j->fi", glob[:, p], rest[j] - rest[p])
    heads = []
    for f in range(1, frames + 1):
        bpy.context.scene.frame_set(f)
        heads.append([list(avatar.armature.matrix_world @ avatar.armature.pose.bones[n].head)
                      for n in avatar.bone_names])
    error = np.linalg.norm(pos - np.array(heads), axis=-1)
    assert error.max() < 1e-4
    # the body pose is the motion's (model-frame local rotations), up to axis-angle equivalence
    _, _, local = avatar.motion
    body = _rodrigues(data["pose_body"].reshape(frames, 21, 3))
    assert np.allclose(body, _rodrigues(local[:, 1:22]), atol=1e-4)


def test_amass_refuses_other_armatures(empty_scene, tmp_path):
    arm = bpy.data.objects.new("rig", bpy.data.armatures.new("rig"))
    empty_scene.collection.objects.link(arm)
    with pytest.raises(AmassError, match="not an SMPL-X avatar"):
        write_amass(bpy.context, arm, str(tmp_path / "x.npz"))
    assert not list(tmp_path.iterdir())
