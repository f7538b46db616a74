"""Key reduction, range smoothing, merging a re-captured range and NLA strips on a real take."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon import keys, rig
from addon.edit import actions
from addon.edit.curves import quat_angle
from addon.edit.motion import motion_channels
from addon.motion_file import MotionFileError
from addon.retarget.transfer import pose_matrices

pytestmark = pytest.mark.compat42


def _sample(obj, frames):
    out = []
    for f in frames:
        bpy.context.scene.frame_set(f)
        out.append(pose_matrices(obj))
    return np.array(out)


def _rot_err_deg(a, b):
    rel = np.swapaxes(a[..., :3, :3], -1, -2) @ b[..., :3, :3]
    return np.degrees(np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))


@pytest.mark.parametrize("deg,mm", [(0.5, 1.0), (2.0, 5.0)])
def test_reduction_keeps_the_motion_within_the_bound(avatar, deg, mm):
    obj = avatar.armature
    frames = list(range(1, 97))
    before = _sample(obj, frames)
    report = actions.reduce_action(obj, deg, mm)
    after = _sample(obj, frames)
    print(f"reduce {deg} deg / {mm} mm: {report.keys_before} -> {report.keys_after} keys ({report.ratio:.1%}), "
          f"max {report.max_rotation_error_deg:.3f} deg {report.max_location_error_mm:.3f} mm")
    assert report.ratio < 0.5
    # local rotations of every bone within the bound; root within the distance bound
    local_b = before
    assert report.max_rotation_error_deg <= deg and report.max_location_error_mm <= mm
    root_err = 1000 * np.linalg.norm(after[:, 0, :3, 3] - before[:, 0, :3, 3], axis=1)
    assert root_err.max() <= mm + 1e-3
    # bone-local rotations (parent-relative): each within the bound
    index = [obj.pose.bones.find(n) for n in avatar.bone_names]     # pose-bone order -> joint order
    for j in range(1, 55):
        p, c = index[avatar.parents[j]], index[j]
        rel_b = np.linalg.inv(local_b[:, p]) @ local_b[:, c]
        rel_a = np.linalg.inv(after[:, p]) @ after[:, c]
        assert _rot_err_deg(rel_b, rel_a).max() <= deg + 0.01


def test_smooth_range_only_touches_the_range(avatar):
    obj = avatar.armature
    path = 'pose.bones["left_elbow"].rotation_quaternion'
    rng = np.random.default_rng(1)
    f, v = keys.read_fcurve(keys.find_fcurve(obj, path, 1))
    noisy = [keys.Channel(path, k, keys.read_fcurve(keys.find_fcurve(obj, path, k))[1] + 0.05 * rng.normal(size=len(f)),
                          "left_elbow") for k in range(4)]
    keys.write_channels(obj, f, noisy, action=obj.animation_data.action)
    before = np.stack([keys.read_fcurve(keys.find_fcurve(obj, path, k))[1] for k in range(4)], axis=1)
    actions.smooth_frames(obj, 30, 60, sigma=2.0, bones=["left_elbow"])
    after = np.stack([keys.read_fcurve(keys.find_fcurve(obj, path, k))[1] for k in range(4)], axis=1)
    outside = (f < 30) | (f > 60)
    assert np.allclose(after[outside], before[outside], atol=1e-6)
    inner = slice(35, 56)
    jitter = lambda q: quat_angle(q[inner][1:], q[inner][:-1]).mean()  # noqa: E731
    assert jitter(after) < 0.5 * jitter(before)
    with pytest.raises(actions.EditError):
        actions.smooth_frames(obj, 60, 30)


def test_merge_recaptured_range_keeps_other_frames(avatar, tmp_path, make_motion_rows, motion_tools):
    obj = avatar.armature
    go, transl, local = make_motion_rows(20, seed=9)
    local[:, 23:25] = 0.0   # motion files carry no eye rotations
    m = motion_tools.make(frames=20, people=1, frame_index=np.arange(39, 59))  # a valid file...
    m.update({  # ...holding the re-captured rows
        "avatar/joint_names": np.array(avatar.bone_names), "flat_hand_mean": np.array(True),
        "p0/global_orient": go.astype(np.float32), "p0/transl": transl.astype(np.float32),
        "p0/body_pose": local[:, 1:22].astype(np.float32), "p0/jaw_pose": local[:, 22].astype(np.float32),
        "p0/left_hand_pose": local[:, 25:40].astype(np.float32),
        "p0/right_hand_pose": local[:, 40:55].astype(np.float32),
    })
    path = motion_tools.save(tmp_path / "recapture.npz", m)
    before = {(fc.data_path, fc.array_index): keys.read_fcurve(fc) for fc in keys.owner_fcurves(obj)}
    frame_index, channels = motion_channels(obj, str(path))
    assert actions.merge_channels(obj, frame_index + 1, channels) == len(before)
    location, quats = rig.pose_keys(avatar, go, transl, local)
    expected = {(c.data_path, c.index): c.values for c in rig.pose_channels(avatar, location, quats)}
    for fc in keys.owner_fcurves(obj):
        f, v = keys.read_fcurve(fc)
        f0, v0 = before[(fc.data_path, fc.array_index)]
        assert np.array_equal(f, f0)                                     # same 96 frames, none lost
        outside = (f < 40) | (f > 59)
        assert np.array_equal(v[outside], v0[outside])
        assert np.allclose(v[~outside], expected[(fc.data_path, fc.array_index)], atol=1e-5)


def test_merge_refuses_a_damaged_motion_file(avatar, tmp_path, motion_tools):
    m = motion_tools.make(frames=5, people=1)
    m["p0/transl"][2, 1] = np.nan
    path = motion_tools.save(tmp_path / "bad.npz", m)
    with pytest.raises(MotionFileError, match="finite|NaN"):
        motion_channels(avatar.armature, str(path))


def test_takes_go_to_their_own_nla_tracks(avatar):
    obj = avatar.armature
    first = obj.animation_data.action
    strip = actions.push_take_to_nla(obj)
    assert obj.animation_data.action is None and strip.action == first
    second = bpy.data.actions.new("take2")
    keys.write_channels(obj, np.array([1.0, 10.0]), [keys.Channel('pose.bones["head"].location', 0,
                                                                   np.array([0.0, 1.0]), "head")], action=second)
    actions.push_take_to_nla(obj)
    assert [t.name for t in obj.animation_data.nla_tracks] == ["take1", "take2"]
    with pytest.raises(actions.EditError):
        actions.push_take_to_nla(obj)
