"""The ground truth of every rendered sample is right.

* the true joints, projected through the true camera, fall inside the rendered
  silhouette of their own figure (or of a figure in front of it), never on background;
* forward kinematics of the stored parameters (docs/formats.md) reproduces them;
* the file is a valid motion file with the true camera, the floor where it says.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from addon.motion_file import load_motion
from models.skeleton import SMPLX_JOINT_NAMES, SMPLX_PARENTS
from samples.scenes import SCENES

NAMES = list(SCENES)
BODY = list(range(22))                      # pelvis + 21 body joints
HANDS = list(range(25, 55))


def contract_fk(truth: dict[str, np.ndarray], i: int) -> np.ndarray:
    """(T,55,3) joints from the motion-file formula:
    G_0 = [R(global_orient) | rest_0 + transl], G_j = G_parent [R(local_j) | rest_j - rest_parent]."""
    p = f"p{i}/"
    rest = truth[p + "rest_joints"].astype(np.float64)
    mean = truth["avatar/hand_mean"].astype(np.float64)
    t = truth[p + "transl"].shape[0]
    local = np.zeros((t, 55, 3))
    local[:, 0] = truth[p + "global_orient"]
    local[:, 1:22] = truth[p + "body_pose"]
    local[:, 22] = truth[p + "jaw_pose"]
    local[:, 25:40] = truth[p + "left_hand_pose"] + mean[:15]
    local[:, 40:55] = truth[p + "right_hand_pose"] + mean[15:]
    rot = Rotation.from_rotvec(local.reshape(-1, 3)).as_matrix().reshape(t, 55, 3, 3)
    world_r = np.zeros_like(rot)
    joints = np.zeros((t, 55, 3))
    world_r[:, 0], joints[:, 0] = rot[:, 0], rest[0] + truth[p + "transl"]
    for j in range(1, 55):
        q = SMPLX_PARENTS[j]
        world_r[:, j] = world_r[:, q] @ rot[:, j]
        joints[:, j] = joints[:, q] + world_r[:, q] @ (rest[j] - rest[q])
    return joints


@pytest.mark.parametrize("name", NAMES)
def test_true_joints_fall_inside_their_own_silhouette(load_sample, name: str) -> None:
    s = load_sample(name)
    t_count, height, width = s.id_mask.shape
    joints = BODY + (HANDS if name == "hands_clap_35mm" else [])
    for i in range(s.people):
        uv = s.project(s.truth[f"p{i}/joints_cam"].astype(np.float64))[:, joints]
        px = np.floor(uv).astype(int)
        inside = (px[..., 0] >= 0) & (px[..., 0] < width) & (px[..., 1] >= 0) & (px[..., 1] < height)
        assert inside.mean() > 0.5, f"p{i}: most joints out of the picture"
        frames = np.broadcast_to(np.arange(t_count)[:, None], inside.shape)
        hit = s.id_mask[frames[inside], px[..., 1][inside], px[..., 0][inside]]
        where = np.argwhere(inside)[hit == 0]
        assert len(where) == 0, (
            f"{name} p{i}: {len(where)} joints on background, e.g. frame {where[0][0]} "
            f"{SMPLX_JOINT_NAMES[joints[where[0][1]]]}")
        own = float(np.mean(hit == i + 1))
        assert own > (0.999 if s.people == 1 else 0.7), (name, i, own)
        # another figure's id only where that figure is in front of this joint
        depth = s.truth[f"p{i}/joints_cam"][..., 2][:, joints][inside]
        for k in set(np.unique(hit)) - {0, i + 1}:
            other = s.truth[f"p{k - 1}/joints_cam"][:, BODY, 2].min(axis=1)[frames[inside]]
            assert (other[hit == k] < depth[hit == k]).all(), f"{name} p{i} seen through p{k - 1}"


def test_crossing_figures_occlude_each_other(load_sample) -> None:
    """The three-people sample really crosses: some true joints are hidden by another figure."""
    s = load_sample("three_people_50mm")
    hidden = 0
    for i in range(s.people):
        px = np.floor(s.project(s.truth[f"p{i}/joints_cam"].astype(np.float64))[:, BODY]).astype(int)
        t = np.arange(px.shape[0])[:, None]
        ok = (px[..., 0] >= 0) & (px[..., 0] < 640) & (px[..., 1] >= 0) & (px[..., 1] < 480)
        hit = s.id_mask[np.broadcast_to(t, ok.shape)[ok], px[..., 1][ok], px[..., 0][ok]]
        hidden += int(np.sum((hit != 0) & (hit != i + 1)))
    assert hidden > 10


@pytest.mark.parametrize("name", NAMES)
def test_forward_kinematics_of_the_parameters_gives_the_true_joints(load_sample, name: str) -> None:
    s = load_sample(name)
    for i in range(s.people):
        fk = contract_fk(s.truth, i)
        err = np.abs(fk - s.truth[f"p{i}/joints_cam"]).max()
        assert err < 2e-4, f"{name} p{i}: FK differs from joints_cam by {err:.2e} m"


@pytest.mark.parametrize("name", NAMES)
def test_ground_truth_is_a_motion_file_with_the_true_camera(samples_root, load_sample, name: str) -> None:
    motion = load_motion(samples_root / name / "ground_truth.npz")     # the add-on's reader validates it
    s = load_sample(name)
    g = s.truth
    w, h = (int(v) for v in g["image_size"])
    assert (w, h) >= (640, 480) and len(g["frame_index"]) >= 60 and float(g["fps"]) == 30.0
    assert str(g["format"]) == "video-mocap-motion/1" and str(g["subject"]) == "body"
    assert str(g["camera_focal_source"]) == "user" and float(g["camera_focal_std_px"]) == 0.0
    focal = float(g["camera_focal_mm"]) / float(g["camera_sensor_mm"]) * w
    np.testing.assert_allclose(g["camera_focal_px"], [focal, focal])
    np.testing.assert_allclose(g["camera_center_px"], [w / 2, h / 2])
    assert float(g["camera_sensor_mm"]) == 36.0 and not bool(g["flat_hand_mean"])
    assert len(motion.people) == s.people and str(g["avatar/model"]) == "mannequin-x"
    # camera pose: rigid; the floor (world y = 0) under the feet in every frame
    m = g["camera_world_from_cam"]
    np.testing.assert_allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-9)
    assert np.linalg.det(m[:3, :3]) > 0.999 and np.allclose(m[3], [0, 0, 0, 1])
    plane = g["floor_plane_cam"]
    for i in range(s.people):
        joints = g[f"p{i}/joints_cam"].astype(np.float64)
        world = joints @ m[:3, :3].T + m[:3, 3]
        height_plane = joints @ plane[:3] + plane[3]
        np.testing.assert_allclose(height_plane, world[..., 1], atol=1e-4)
        feet = world[:, [SMPLX_JOINT_NAMES.index(n) for n in ("left_foot", "right_foot")], 1]
        assert feet.min() > 0.0 and feet.min(axis=1).max() < 0.2, "a foot is on the floor"
        assert (world[:, 15, 1] > world[:, 0, 1]).all(), "head above pelvis"


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_is_seen(load_sample, name: str) -> None:
    s = load_sample(name)
    assert set(np.unique(s.id_mask)) <= set(range(s.people + 1))
    area = np.stack([(s.id_mask == i + 1).sum(axis=(1, 2)) for i in range(s.people)])
    assert (area > 500).mean(axis=1).min() > 0.9, area.min(axis=1)
