"""The scripted motions do what their names say, plausibly (checked on the stored ground truth).

World frame of the samples: y up, floor y = 0 (``camera_world_from_cam`` maps camera to world).
"""

from __future__ import annotations

import numpy as np
import pytest

from models.skeleton import joint_index
from samples.scenes import SCENES

PELVIS, L_ANKLE, R_ANKLE = joint_index("pelvis"), joint_index("left_ankle"), joint_index("right_ankle")
L_WRIST, R_WRIST, SPINE3 = joint_index("left_wrist"), joint_index("right_wrist"), joint_index("spine3")
L_HIP, R_HIP, HEAD = joint_index("left_hip"), joint_index("right_hip"), joint_index("head")


def world_joints(sample, i: int = 0) -> np.ndarray:
    """(T,55,3) true joints in the world frame (metres, y up)."""
    m = sample.truth["camera_world_from_cam"]
    return sample.truth[f"p{i}/joints_cam"].astype(np.float64) @ m[:3, :3].T + m[:3, 3]


def heading(j: np.ndarray) -> np.ndarray:
    """(T,) unwrapped facing angle about +y from the hip line (0 = facing +z)."""
    across = j[:, L_HIP] - j[:, R_HIP]                  # points to the body's left
    return np.unwrap(np.arctan2(-across[:, 2], across[:, 0]))


@pytest.mark.parametrize("name", list(SCENES))
def test_joint_angles_are_anatomically_plausible_and_smooth(load_sample, name: str) -> None:
    s = load_sample(name)
    for i in range(s.people):
        pose = s.truth[f"p{i}/body_pose"].astype(np.float64)
        angle = np.linalg.norm(pose, axis=-1)
        assert angle.max() < 2.5, angle.max()
        knees = pose[:, [3, 4]]                          # flexion is +x; never hyperextended
        assert knees[..., 0].min() > -0.05 and np.abs(knees[..., 1:]).max() < 0.3
        hands = np.linalg.norm(s.truth[f"p{i}/left_hand_pose"], axis=-1)
        assert hands.max() < 2.0
        step = np.linalg.norm(np.diff(world_joints(s, i)[:, :22], axis=0), axis=-1)
        assert step.max() < 0.17, f"a joint moves {step.max():.2f} m in one frame (> 5 m/s)"


def test_walking_advances_with_planted_feet(load_sample) -> None:
    s = load_sample("default")
    j = world_joints(s)[:40]                            # the walking part
    pelvis = j[:, PELVIS, [0, 2]]
    speed = np.linalg.norm(pelvis[-1] - pelvis[0]) / (len(j) - 1) * 30.0
    assert 0.5 < speed < 1.6, speed
    ankles = np.linalg.norm(np.diff(j[:, [L_ANKLE, R_ANKLE]][..., [0, 2]], axis=0), axis=-1)
    assert np.median(ankles.min(axis=1)) < 0.005, "one foot stays put while the body moves"


def test_turn_is_a_full_circle_on_the_spot(load_sample) -> None:
    j = world_joints(load_sample("long_85mm"))
    turned = heading(j)[-1] - heading(j)[0]
    assert abs(abs(turned) - 2 * np.pi) < 0.3, turned
    drift = np.linalg.norm(j[:, PELVIS, [0, 2]] - j[0, PELVIS, [0, 2]], axis=-1)
    assert drift.max() < 0.35


def test_crouch_goes_down_with_the_feet_in_place(load_sample) -> None:
    j = world_joints(load_sample("medium_50mm"))
    crouch = slice(46, 94)
    assert j[0, PELVIS, 1] - j[crouch, PELVIS, 1].min() > 0.3
    feet = j[crouch][:, [L_ANKLE, R_ANKLE]][..., [0, 2]]
    assert np.linalg.norm(feet - feet[0], axis=-1).max() < 0.05


def test_clap_hands_meet_in_front_of_the_chest(load_sample) -> None:
    j = world_joints(load_sample("hands_clap_35mm"))
    gap = np.linalg.norm(j[:, L_WRIST] - j[:, R_WRIST], axis=-1)
    assert gap[:5].min() > 0.3, "hands start at the sides"
    claps = gap[18:54]
    assert claps.min() < 0.09 and claps.max() > 0.25, "apart and together (claps)"
    assert gap[65:].max() < 0.09, "interlocked at the end"
    front = heading(j)[70]
    forward = np.array([np.sin(front), np.cos(front)])
    ahead = (0.5 * (j[70, L_WRIST] + j[70, R_WRIST]) - j[70, SPINE3])[[0, 2]] @ forward
    assert 0.15 < ahead < 0.5 and j[70, L_WRIST, 1] < j[70, HEAD, 1]


def test_walkers_cross(load_sample) -> None:
    s = load_sample("three_people_50mm")
    x = [world_joints(s, i)[:, PELVIS, 0] for i in range(s.people)]
    assert (x[0][0] - x[1][0]) * (x[0][-1] - x[1][-1]) < 0, "figures 0 and 1 swap sides"
    betas = np.stack([s.truth[f"p{i}/betas"] for i in range(s.people)])
    assert len(np.unique(betas.round(3), axis=0)) == s.people
