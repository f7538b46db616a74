"""Rotation conversions and forward kinematics (torch against scipy/numpy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from models import kinematics as kin
from models.skeleton import SMPLX_PARENTS

finite = st.floats(-6.0, 6.0, allow_nan=False)


def _random_aa(n: int, seed: int = 0, scale: float = 1.5) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, scale, (n, 3))


def test_axis_angle_matrix_matches_scipy() -> None:
    aa = _random_aa(500)
    ours = kin.axis_angle_to_matrix(torch.as_tensor(aa)).numpy()
    np.testing.assert_allclose(ours, kin.axis_angle_to_matrix_np(aa), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(ours), 1.0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (3,), elements=finite))
def test_round_trips(aa: np.ndarray) -> None:
    r = kin.axis_angle_to_matrix_np(aa)
    t = torch.as_tensor(r)
    for back in (kin.quaternion_to_matrix(kin.matrix_to_quaternion(t)),
                 kin.rotation_6d_to_matrix(kin.matrix_to_rotation_6d(t)),
                 kin.axis_angle_to_matrix(kin.matrix_to_axis_angle(t)),
                 kin.axis_angle_to_matrix(kin.quaternion_to_axis_angle(kin.axis_angle_to_quaternion(
                     torch.as_tensor(aa))))):
        np.testing.assert_allclose(back.numpy(), r, atol=1e-9)
    np.testing.assert_allclose(kin.quaternion_to_matrix_np(kin.matrix_to_quaternion_np(r)), r, atol=1e-9)
    np.testing.assert_allclose(kin.axis_angle_to_matrix_np(kin.matrix_to_axis_angle_np(r)), r, atol=1e-9)
    np.testing.assert_allclose(kin.rotation_6d_to_matrix_np(kin.matrix_to_rotation_6d_np(r)), r, atol=1e-9)


def test_quaternions_scalar_first_and_canonical() -> None:
    aa = torch.tensor([[np.pi / 2, 0.0, 0.0]], dtype=torch.float64)
    q = kin.axis_angle_to_quaternion(aa)
    np.testing.assert_allclose(q.numpy(), [[np.cos(np.pi / 4), np.sin(np.pi / 4), 0, 0]], atol=1e-12)
    r = kin.axis_angle_to_matrix_np(_random_aa(200, 3))
    q_t = kin.matrix_to_quaternion(torch.as_tensor(r)).numpy()
    assert (q_t[:, 0] >= 0).all()
    np.testing.assert_allclose(q_t, kin.matrix_to_quaternion_np(r), atol=1e-12)


def test_matrix_to_axis_angle_near_pi_and_zero() -> None:
    aa = np.array([[np.pi - 1e-7, 0, 0], [0, 0, 1e-9], [0, 0, 0], [0.0, np.pi, 0.0]])
    r = kin.axis_angle_to_matrix_np(aa)
    back = kin.matrix_to_axis_angle(torch.as_tensor(r)).numpy()
    np.testing.assert_allclose(kin.axis_angle_to_matrix_np(back), r, atol=1e-7)


def test_gradients_finite_at_zero() -> None:
    aa = torch.zeros(4, 3, requires_grad=True)
    loss = kin.axis_angle_to_matrix(aa).square().sum() + kin.axis_angle_to_quaternion(aa).sum()
    loss = loss + kin.quaternion_to_axis_angle(kin.axis_angle_to_quaternion(aa)).sum()
    loss.backward()
    assert torch.isfinite(aa.grad).all()
    # d R / d aa at zero is the skew generator: d R[2,1] / d aa_x == 1
    aa2 = torch.zeros(3, requires_grad=True)
    kin.axis_angle_to_matrix(aa2)[2, 1].backward()
    np.testing.assert_allclose(aa2.grad.numpy(), [1.0, 0.0, 0.0], atol=1e-7)


def test_forward_kinematics_torch_matches_numpy_and_formula() -> None:
    rng = np.random.default_rng(1)
    batch, parents = 5, SMPLX_PARENTS
    rest = rng.normal(0, 0.3, (55, 3))
    rot = kin.axis_angle_to_matrix_np(rng.normal(0, 0.5, (batch, 55, 3)))
    transl = rng.normal(0, 1, (batch, 3))
    j_np, g_np = kin.forward_kinematics_np(rot, rest, parents, transl)
    j_t, g_t = kin.forward_kinematics(torch.as_tensor(rot), torch.as_tensor(rest), parents,
                                      torch.as_tensor(transl))
    np.testing.assert_allclose(j_t.numpy(), j_np, atol=1e-12)
    np.testing.assert_allclose(g_t.numpy(), g_np, atol=1e-12)
    # G_0 = [R_0 | J_0 + transl]; G_j = G_p [R_j | J_j - J_p] (docs/formats.md)
    for b in range(batch):
        g = [None] * 55
        for j, p in enumerate(parents):
            local = np.eye(4)
            local[:3, :3] = rot[b, j]
            local[:3, 3] = rest[j] + transl[b] if p < 0 else rest[j] - rest[p]
            g[j] = local if p < 0 else g[p] @ local
        np.testing.assert_allclose(np.stack(g), g_np[b], atol=1e-12)


def test_identity_pose_gives_rest_joints() -> None:
    rest = torch.randn(2, 55, 3)
    joints, _ = kin.forward_kinematics(torch.eye(3).expand(2, 55, 3, 3), rest, SMPLX_PARENTS,
                                       torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(joints, rest + torch.tensor([[[1.0, 2.0, 3.0]], [[0.0, 0.0, 0.0]]]))


def test_kinematic_levels_rejects_bad_order() -> None:
    assert kin.kinematic_levels(SMPLX_PARENTS)[0] == [0]
    with pytest.raises(ValueError):
        kin.kinematic_levels([-1, 2, 0])


def test_skinning_rigid_vertex_follows_its_joint() -> None:
    rng = np.random.default_rng(2)
    parents = [-1, 0, 1]
    rest = torch.tensor([[0.0, 0, 0], [0, 1, 0], [0, 2, 0]], dtype=torch.float64)
    rot = torch.as_tensor(kin.axis_angle_to_matrix_np(rng.normal(0, 1, (1, 3, 3))))
    _, g = kin.forward_kinematics(rot, rest, parents, torch.zeros(1, 3, dtype=torch.float64))
    verts = torch.tensor([[0.1, 1.5, 0.0], [0.0, 2.2, 0.3]], dtype=torch.float64)
    weights = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.5, 0.5]], dtype=torch.float64)
    posed = kin.linear_blend_skinning(verts, g, rest, weights)[0]
    expect0 = g[0, 1, :3, :3] @ (verts[0] - rest[1]) + g[0, 1, :3, 3]
    expect1 = 0.5 * (g[0, 1, :3, :3] @ (verts[1] - rest[1]) + g[0, 1, :3, 3]) + \
        0.5 * (g[0, 2, :3, :3] @ (verts[1] - rest[2]) + g[0, 2, :3, 3])
    torch.testing.assert_close(posed, torch.stack((expect0, expect1)))


def test_top_k_skin() -> None:
    dense = np.array([[0.1, 0.6, 0.2, 0.05, 0.05], [1.0, 0, 0, 0, 0]])
    idx, w = kin.top_k_skin(dense, 2)
    assert idx.tolist() == [[1, 2], [0, 1]]
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(kin.dense_skin_weights(idx, w, 5)[0, [1, 2]], [0.75, 0.25], atol=1e-6)


def _reference_fk(rot: torch.Tensor, rest: torch.Tensor, parents,
                  transl: torch.Tensor | None) -> torch.Tensor:
    """Joint-by-joint torch FK (plain autograd), the formula of docs/formats.md: (B, J, 3, 4)."""
    rest = rest.expand(rot.shape[0], *rest.shape[-2:])
    world: list[torch.Tensor] = []
    for j, p in enumerate(parents):
        if p < 0:
            t = rest[:, j] + (0.0 if transl is None else transl)
            world.append(torch.cat((rot[:, j], t[..., None]), -1))
        else:
            r = world[p][..., :3] @ rot[:, j]
            t = world[p][..., 3] + (world[p][..., :3] @ (rest[:, j] - rest[:, p])[..., None])[..., 0]
            world.append(torch.cat((r, t[..., None]), -1))
    return torch.stack(world, 1)


_TREES = {"smplx": list(SMPLX_PARENTS), "branchy": [-1, 0, 0, 1, 1, 2, 3, 3, 4, 6], "chain": [-1, 0, 1, 2]}


@pytest.mark.parametrize("tree", sorted(_TREES))
def test_level_batched_fk_equals_joint_by_joint_reference(tree: str) -> None:
    parents = _TREES[tree]
    rng = np.random.default_rng(4)
    num = len(parents)
    rot = torch.as_tensor(kin.axis_angle_to_matrix_np(rng.normal(0, 0.8, (3, num, 3))))
    rests = (torch.as_tensor(rng.normal(0, 0.3, (num, 3))), torch.as_tensor(rng.normal(0, 0.3, (3, num, 3))))
    for rest in rests:
        for transl in (None, torch.as_tensor(rng.normal(0, 1, (3, 3)))):
            expect = _reference_fk(rot, rest, parents, transl)
            world = kin.forward_kinematics_affine(rot, rest, parents, transl)
            joints, transforms = kin.forward_kinematics(rot, rest, parents, transl)
            torch.testing.assert_close(world, expect, atol=1e-12, rtol=0)
            torch.testing.assert_close(transforms[..., :3, :], expect, atol=1e-12, rtol=0)
            torch.testing.assert_close(joints, expect[..., 3], atol=1e-12, rtol=0)
            assert (transforms[..., 3, :] == torch.tensor([0.0, 0, 0, 1], dtype=torch.float64)).all()


@pytest.mark.parametrize("tree", sorted(_TREES))
def test_level_batched_fk_gradients_match_reference(tree: str) -> None:
    parents = _TREES[tree]
    rng = np.random.default_rng(5)
    num = len(parents)
    inputs = [torch.as_tensor(rng.normal(0, 0.7, (2, num, 3)), dtype=torch.float64),
              torch.as_tensor(rng.normal(0, 0.3, (num, 3))), torch.as_tensor(rng.normal(0, 1, (2, 3)))]
    upstream = torch.as_tensor(rng.normal(0, 1, (2, num, 3, 4)))
    grads = []
    for fk in (_reference_fk, kin.forward_kinematics_affine):
        leaves = [x.clone().requires_grad_() for x in inputs]
        world = fk(kin.axis_angle_to_matrix(leaves[0]), leaves[1], parents, leaves[2])
        (world * upstream).sum().backward()
        grads.append([x.grad for x in leaves])
    for ours, ref in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(ours, ref, atol=1e-10, rtol=1e-10)


def test_fk_gradcheck_float64() -> None:
    parents = list(SMPLX_PARENTS)
    rng = np.random.default_rng(6)
    rot = torch.as_tensor(kin.axis_angle_to_matrix_np(rng.normal(0, 0.8, (1, 55, 3)))).requires_grad_()
    rest = torch.as_tensor(rng.normal(0, 0.3, (55, 3))).requires_grad_()
    transl = torch.as_tensor(rng.normal(0, 1, (1, 3))).requires_grad_()
    fk = lambda r, j, t: kin.forward_kinematics(r, j, parents, t)  # noqa: E731
    assert torch.autograd.gradcheck(fk, (rot, rest, transl))


def test_axis_angle_to_matrix_gradcheck_including_near_zero() -> None:
    aa = torch.tensor([[0.3, -1.2, 2.0], [1e-4, 2e-4, -1e-4], [0.0, 0.0, 0.0], [3.0, 0.1, 0.0]],
                      dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(kin.axis_angle_to_matrix, (aa,))


@pytest.mark.parametrize("per_frame", [False, True])
def test_posed_points_match_forward_kinematics_and_pass_gradcheck(per_frame: bool) -> None:
    """Posing from axis-angles in one pass (Rodrigues, chain and points, one hand-written
    backward) equals forward kinematics of the same rotations, the points equal
    ``R_world @ offset + t_world`` of their joint, and every gradient (root rotation,
    axis-angles, rest joints, translation, offsets) is right."""
    parents = list(SMPLX_PARENTS)
    rng = np.random.default_rng(8)
    batch = 2
    root = torch.as_tensor(kin.axis_angle_to_matrix_np(rng.normal(0, 0.8, (batch, 3)))).requires_grad_()
    aa = torch.as_tensor(rng.normal(0, 0.8, (batch, 54, 3)))
    aa[0, 3] = 0.0                                          # the zero rotation (Taylor branch)
    aa.requires_grad_()
    frames = batch if per_frame else 1
    rest = torch.as_tensor(rng.normal(0, 0.3, (frames, 55, 3))).requires_grad_()
    transl = torch.as_tensor(rng.normal(0, 1, (batch, 3))).requires_grad_()
    joints = np.array([0, 7, 20, 54, 54, 33])
    offsets = torch.as_tensor(rng.normal(0, 0.1, (frames, len(joints), 3))).requires_grad_()
    world, points = kin.posed_points(root, aa, rest, parents, transl, joints, offsets)
    rotations = torch.cat((root[:, None], kin.axis_angle_to_matrix(aa)), 1)
    expected_world = kin.forward_kinematics_affine(rotations, rest if per_frame else rest[0], parents, transl)
    torch.testing.assert_close(world, expected_world)
    expected = ((world[:, joints, :, :3] @ offsets.expand(batch, -1, -1)[..., None])[..., 0]
                + world[:, joints, :, 3])
    torch.testing.assert_close(points, expected)

    def both(r, a, j, t, o):
        return kin.posed_points(r, a, j, parents, t, joints, o)

    def points_only(r, a, j, t, o):   # the world output unused: its gradient arrives as None
        return kin.posed_points(r, a, j, parents, t, joints, o)[1]

    inputs = (root, aa, rest, transl, offsets)
    assert torch.autograd.gradcheck(both, inputs, fast_mode=True)
    assert torch.autograd.gradcheck(points_only, inputs, fast_mode=True)
