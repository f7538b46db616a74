"""Joint limits and the pose prior."""

from __future__ import annotations

import numpy as np
import torch

from core.fit import priors


def test_limits_shapes_and_mirror() -> None:
    body = priors.body_limits()
    assert body.shape == (21, 3, 2) and (body[..., 0] < body[..., 1]).all()
    left, right = priors.hand_limits("left"), priors.hand_limits("right")
    assert left.shape == right.shape == (15, 3, 2)
    np.testing.assert_allclose(right[:, 0], left[:, 0])            # x range kept
    np.testing.assert_allclose(right[:, 1:, 0], -left[:, 1:, 1])   # y, z mirrored
    # knees (rows 3, 4) only bend one way: flexion about +x
    assert body[3, 0, 0] > -0.2 and body[3, 0, 1] > 2.0


def test_limit_penalty_zero_inside_positive_outside() -> None:
    lim = torch.as_tensor(priors.body_limits())
    inside = torch.zeros(5, 21, 3)
    assert float(priors.limit_penalty(inside, lim)) == 0.0
    bent_back = inside.clone()
    bent_back[:, 3, 0] = -1.0  # left knee hyper-extended by 1 rad
    pen = priors.limit_penalty(bent_back.requires_grad_(), lim)
    assert float(pen) > 0.5
    pen.backward()
    assert (bent_back.grad[:, 3, 0] < 0).all()  # gradient descent pushes it back into range


def test_pose_prior_weights() -> None:
    w = torch.as_tensor(priors.POSE_PRIOR_WEIGHTS)
    pose = torch.zeros(2, 21, 3)
    assert float(priors.pose_prior(pose, w)) == 0.0
    pose[:, 2, 0] = 0.5  # spine1 bends
    spine = float(priors.pose_prior(pose, w))
    pose2 = torch.zeros(2, 21, 3)
    pose2[:, 17, 1] = 0.5  # an elbow bends the same amount
    assert float(priors.pose_prior(pose2, w)) < spine
