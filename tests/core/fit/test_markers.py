"""Virtual markers riding on the joints of the real body model."""

from __future__ import annotations

import numpy as np
import torch

from core.fit import markers as M
from models.skeleton import joint_index


def test_marker_sets() -> None:
    pose = M.pose_markers()
    assert len(pose) == 33
    assert pose.joints[11] == joint_index("left_shoulder") and pose.joints[24] == joint_index("right_hip")
    left = M.hand_markers("left")
    assert len(left) == 21 and left.joints[0] == joint_index("left_wrist")
    assert left.tip_of[8] == joint_index("left_index3") and left.tip_of[7] == -1
    right = M.hand_markers("right")
    assert right.joints[20] == joint_index("right_pinky3")


def test_marker_positions_at_rest_and_rotated(body_model) -> None:
    betas = torch.zeros(1, 10)
    rest = body_model.rest_joints(betas)[0]
    parents = np.asarray(body_model._parents_list)
    rot = torch.eye(3).expand(1, 55, 3, 3)
    pos = rest[None]
    markers = M.concat(M.pose_markers(), M.hand_markers("left"))
    out = M.marker_positions(markers, rot, pos, rest, parents)[0]
    np.testing.assert_allclose(out[15].numpy(), rest[joint_index("left_wrist")].numpy(), atol=1e-6)
    nose = out[0] - rest[joint_index("head")]
    assert nose[2] > 0.08  # the nose is in front of the head joint
    tip = out[33 + 8]       # left index fingertip continues the last bone
    j2, j3 = rest[joint_index("left_index2")], rest[joint_index("left_index3")]
    np.testing.assert_allclose(tip.numpy(), (j3 + M.TIP_FRACTION * (j3 - j2)).numpy(), atol=1e-6)
    # rotating the head joint by 180 deg about y puts the nose behind it
    rot2 = rot.clone()
    rot2[0, joint_index("head")] = torch.diag(torch.tensor([-1.0, 1.0, -1.0]))
    out2 = M.marker_positions(markers, rot2, pos, rest, parents)[0]
    assert (out2[0] - rest[joint_index("head")])[2] < -0.08
