"""Ground plane and planted feet."""

from __future__ import annotations

import numpy as np
import torch

from core.fit.contact import GroundPlane, contact_loss, detect_planted, fit_ground_plane


def _floor(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, float]:
    normal = np.array([0.0, -np.cos(0.2), -np.sin(0.2)])  # camera tilted down a little
    e1 = np.array([1.0, 0, 0])
    e2 = np.cross(normal, e1)
    pts = rng.uniform(-1.5, 1.5, (n, 1)) * e1 + rng.uniform(2, 6, (n, 1)) * e2
    offset = -1.4
    return pts + offset * normal, normal, offset


def test_fit_ground_plane_spread_points() -> None:
    rng = np.random.default_rng(0)
    pts, normal, offset = _floor(rng, 200)
    plane = fit_ground_plane(pts.reshape(100, 2, 3), up_hint=np.array([0, -1.0, 0]),
                             planted=np.ones((100, 2), bool))
    assert plane.normal @ normal > 0.999
    assert abs(plane.offset - offset) < 1e-3
    np.testing.assert_allclose(plane.height(pts), 0, atol=1e-3)


def test_fit_ground_plane_collinear_points_use_the_up_hint() -> None:
    pts = np.stack([np.linspace(-1, 1, 50), np.full(50, 1.4), np.full(50, 4.0)], -1)
    plane = fit_ground_plane(pts[:, None], up_hint=np.array([0, -1.0, 0]), planted=np.ones((50, 1), bool))
    np.testing.assert_allclose(plane.normal, [0, -1, 0], atol=1e-9)
    assert abs(plane.offset - (-1.4)) < 1e-9


def test_detect_planted() -> None:
    plane = GroundPlane(np.array([0, -1.0, 0]), -1.4)
    t = np.arange(30)
    foot = np.zeros((30, 2, 3))
    foot[:, :, 1] = 1.4
    foot[:, :, 2] = 4.0
    foot[:, 1, 2] = 4.0 + 0.05 * t          # the right foot slides 1.5 m/s
    foot[10:20, 0, 1] = 1.2                 # the left foot lifts 20 cm
    planted = detect_planted(foot, plane, fps=30.0)
    assert planted[:8, 0].all() and not planted[11:19, 0].any()
    assert not planted[:, 1].any()


def test_contact_loss_zero_when_planted_on_the_ground_and_pushes_sliding_feet() -> None:
    normal = torch.tensor([0, -1.0, 0])
    feet = torch.zeros(5, 2, 3, 3)
    feet[..., 1] = 1.4
    planted = torch.ones(5, 2)
    assert float(contact_loss(feet, planted, normal, -1.4)) < 1e-12
    sliding = feet.clone()
    sliding[:, 0, :, 0] = torch.arange(5.0)[:, None] * 0.05
    sliding.requires_grad_()
    loss = contact_loss(sliding, planted, normal, -1.4)
    assert float(loss.detach()) > 0
    loss.backward()
    assert sliding.grad[:, 0, :, 0].abs().sum() > 0
    below = feet.clone()
    below[..., 1] = 1.5  # 10 cm under the floor (y down)
    assert float(contact_loss(below, torch.zeros(5, 2), normal, -1.4)) > 0
