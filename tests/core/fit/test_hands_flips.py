"""Left/right consistency (body and hands) and hand interpenetration."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from core.fit.flips import MIRROR, mirrored_frames, repair_body_flips
from core.fit.hands import dropout_spans, hand_sphere_radii, penetration_loss, repair_hand_flips


def _obs(body_model, synth, frames: int = 24):
    return synth.observe(synth.pose(body_model, synth.motion(frames)), 900.0, (1280, 720), noise_px=1.0)


def test_body_flips_detected_and_repaired(body_model, synth) -> None:
    obs = _obs(body_model, synth)
    bad = np.zeros(obs.num_frames, bool)
    bad[[5, 6, 7, 15]] = True
    b2 = obs.body_2d.copy()
    b2[bad] = b2[bad][:, MIRROR]
    broken = replace(obs, body_2d=b2)
    np.testing.assert_array_equal(mirrored_frames(broken), bad)
    fixed, count = repair_body_flips(broken)
    assert count == 4
    np.testing.assert_allclose(fixed.body_2d, obs.body_2d)
    assert not mirrored_frames(obs).any()  # a clean track is left alone


def test_hand_flips_follow_the_arm_chain(body_model, synth) -> None:
    obs = _obs(body_model, synth)
    h2 = obs.hand_2d.copy()
    h2[:, 3] = h2[::-1, 3]          # both hands swapped in frame 3
    hc = obs.hand_conf.copy()
    h2[0, 9] = h2[1, 9]             # frame 9: only one hand found, put on the wrong side
    hc[1, 9] = 0
    hc[0, 9] = 1
    broken = replace(obs, hand_2d=h2, hand_conf=hc)
    fixed, count = repair_hand_flips(broken)
    assert count == 2
    np.testing.assert_allclose(fixed.hand_2d[:, 3], obs.hand_2d[:, 3])
    assert fixed.hand_conf[1, 9].max() == 1 and fixed.hand_conf[0, 9].max() == 0


def test_dropout_spans() -> None:
    present = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0], bool)
    assert dropout_spans(present, max_len=3) == [(2, 4)]
    assert dropout_spans(present, max_len=5) == [(2, 4), (5, 10)]


def test_penetration_loss_separates_interlocked_hands() -> None:
    radii = torch.as_tensor(hand_sphere_radii())
    rng = np.random.default_rng(0)
    left = torch.as_tensor(rng.uniform(-0.05, 0.05, (2, 21, 3)), dtype=torch.float32)
    far = left + torch.tensor([0.5, 0, 0])
    assert float(penetration_loss(left, far, radii)) == 0.0
    inter = (left + torch.tensor([0.005, 0, 0])).requires_grad_()
    loss = penetration_loss(left, inter, radii)
    assert float(loss.detach()) > 0
    loss.backward()
    step = inter.detach() - 0.5 * inter.grad
    assert float(penetration_loss(left, step, radii)) < float(loss.detach())
    torso = torch.zeros(2, 1, 3)
    assert float(penetration_loss(far, far + 1.0, radii, torso, torch.tensor([0.3]))) == 0.0
    assert float(penetration_loss(left, left + 1.0, radii, torso, torch.tensor([0.3]))) > 0  # hand in the torso


def test_penetration_loss_value_and_gradient() -> None:
    """The sum of squared overlaps, and its gradient (written out, over the overlapping pairs
    only) against finite differences, with pairs in and out of contact and a torso."""
    radii = torch.as_tensor(hand_sphere_radii(), dtype=torch.float64)
    rng = np.random.default_rng(3)
    left = torch.as_tensor(rng.uniform(-0.04, 0.04, (3, 21, 3))).requires_grad_()
    right = torch.as_tensor(rng.uniform(-0.04, 0.04, (3, 21, 3)) + [0.02, 0, 0]).requires_grad_()
    torso = torch.as_tensor(rng.uniform(-0.2, 0.2, (3, 2, 3))).requires_grad_()
    torso_radii = torch.tensor([0.1, 0.05], dtype=torch.float64)
    d = torch.cdist(left, right)
    expected = (torch.relu(radii[:, None] + radii[None, :] - d) ** 2).sum()
    for hand in (left, right):
        gap = torso_radii + radii[1:, None] - torch.cdist(hand[:, 1:], torso)
        expected = expected + (torch.relu(gap) ** 2).sum()
    got = penetration_loss(left, right, radii, torso, torso_radii)
    assert 0 < float(expected) and float(got) == pytest.approx(float(expected), rel=1e-12)
    assert torch.autograd.gradcheck(lambda a, b, c: penetration_loss(a, b, radii, c, torso_radii),
                                    (left, right, torso))


def test_view_ray_alignment(body_model, synth) -> None:
    """Crop-aligned 3D turned onto the ray through the hips: identity on the optical axis."""
    from core.fit.observations import align_to_view_rays

    obs = _obs(body_model, synth, frames=4)
    hips = obs.body_2d[:, [23, 24]].mean(1)
    centred = align_to_view_rays(obs, 900.0, hips[0].astype(np.float64))
    np.testing.assert_allclose(centred.body_3d[0], obs.body_3d[0], atol=1e-5)
    off = align_to_view_rays(obs, 900.0, hips[0] - np.array([900.0, 0.0]))  # hips 45 deg to the right
    z_axis = np.array([[0.0, 0.0, 1.0]], np.float32)
    moved = replace(obs, body_3d=np.broadcast_to(z_axis, obs.body_3d.shape).copy())
    turned = align_to_view_rays(moved, 900.0, hips[0] - np.array([900.0, 0.0]))
    np.testing.assert_allclose(turned.body_3d[0, 0], [np.sqrt(0.5), 0.0, np.sqrt(0.5)], atol=1e-3)
    assert np.allclose(np.linalg.norm(off.body_3d, axis=-1), np.linalg.norm(obs.body_3d, axis=-1), atol=1e-5)
