"""Rotations and forward kinematics: the one toolkit, in torch and numpy.

Conventions (everywhere in this project):

* axis-angle: (..., 3) radians, the rotation vector ``angle * unit_axis``;
* rotation matrix: (..., 3, 3), acting on column vectors (``x' = R @ x``);
* quaternion: (..., 4) **scalar first** ``(w, x, y, z)`` (as Blender), unit norm;
* 6D: (..., 6) the first two **columns** of the matrix, ``(R[:,0], R[:,1])``
  (Zhou et al. 2019, "On the continuity of rotation representations").

Torch functions (``axis_angle_to_matrix``, ...) are differentiable everywhere,
including at the zero rotation, and work on any device (Rodrigues and forward kinematics
once: their gradients are written out in :mod:`models.chain`); numpy functions carry an
``_np`` suffix and delegate to ``scipy.spatial.transform.Rotation``.

Forward kinematics follows smplx and docs/formats.md::

    G_0 = [R_0 | J_0 + transl]
    G_j = G_parent(j) @ [R_j | J_j - J_parent(j)]

with ``R_j`` the local rotation of joint j, ``J`` the rest joints (model frame)
and ``transl`` added to the root only, so the root rotates about its own rest
position. Skinning is linear blend skinning with the same transforms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from torch import Tensor

from models import chain

# --------------------------------------------------------------------------------------
# torch rotations
# --------------------------------------------------------------------------------------

_SMALL_ANGLE_SQ = chain.SMALL_ANGLE_SQ  # below this squared angle (rad^2) Taylor series are used


def skew(v: Tensor) -> Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrix ``[v]_x``."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack((o, -z, y, z, o, -x, -y, x, o), dim=-1).reshape(*v.shape[:-1], 3, 3)


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rodrigues: (..., 3) axis-angle (radians) -> (..., 3, 3) rotation matrices.

    ``R = c I + a [v]_x + b v v^T`` with ``a = sin t / t``, ``b = (1 - cos t) / t^2``,
    ``c = 1 - b t^2 = cos t``; a and b use Taylor series near zero so gradients stay finite.
    The gradient is written out (:class:`models.chain.Rodrigues`).
    """
    return chain.Rodrigues.apply(axis_angle)


def quaternion_to_matrix(quaternion: Tensor) -> Tensor:
    """(..., 4) quaternions (w, x, y, z), any norm > 0 -> (..., 3, 3) rotation matrices."""
    w, x, y, z = quaternion.unbind(-1)
    s = 2.0 / (quaternion * quaternion).sum(-1)
    m = (
        1 - s * (y * y + z * z), s * (x * y - z * w), s * (x * z + y * w),
        s * (x * y + z * w), 1 - s * (x * x + z * z), s * (y * z - x * w),
        s * (x * z - y * w), s * (y * z + x * w), 1 - s * (x * x + y * y),
    )
    return torch.stack(m, dim=-1).reshape(*quaternion.shape[:-1], 3, 3)


def matrix_to_quaternion(matrix: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z) with w >= 0.

    Numerically stable for every rotation: of the four algebraically equivalent
    formulas the one with the largest divisor is chosen per element.
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4 * (w^2, x^2, y^2, z^2)
    four_sq = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                           1 - m00 + m11 - m22, 1 - m00 - m11 + m22), dim=-1)
    root = torch.sqrt(torch.clamp(four_sq, min=1e-12))  # 2|w|, 2|x|, 2|y|, 2|z|
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s01, s02, s12 = m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1]
    candidates = torch.stack((
        torch.stack((root[..., 0] ** 2, d21, d02, d10), -1) / (2 * root[..., 0:1]),
        torch.stack((d21, root[..., 1] ** 2, s01, s02), -1) / (2 * root[..., 1:2]),
        torch.stack((d02, s01, root[..., 2] ** 2, s12), -1) / (2 * root[..., 2:3]),
        torch.stack((d10, s02, s12, root[..., 3] ** 2), -1) / (2 * root[..., 3:4]),
    ), dim=-2)  # (..., 4 candidates, 4)
    best = four_sq.argmax(-1)
    q = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(quaternion: Tensor) -> Tensor:
    """(..., 4) unit quaternions (w, x, y, z) -> (..., 3) axis-angle with angle in [0, pi]."""
    q = torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)
    xyz = q[..., 1:]
    sin_sq = (xyz * xyz).sum(-1)
    small = sin_sq < _SMALL_ANGLE_SQ
    sin_half = torch.sqrt(torch.where(small, torch.ones_like(sin_sq), sin_sq))
    half = torch.atan2(sin_half, q[..., 0])
    # angle / sin(angle/2); near zero: 2 / w * (1 + sin^2/(6 w^2)) is the series of 2 atan(s/w)/s
    w = q[..., 0]
    factor = torch.where(small, 2.0 / w * (1.0 - sin_sq / (3.0 * w * w)), 2.0 * half / sin_half)
    return xyz * factor[..., None]


def axis_angle_to_quaternion(axis_angle: Tensor) -> Tensor:
    """(..., 3) axis-angle -> (..., 4) unit quaternions (w, x, y, z)."""
    theta_sq = (axis_angle * axis_angle).sum(-1)
    small = theta_sq < _SMALL_ANGLE_SQ
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    # sin(t/2)/t
    k = torch.where(small, 0.5 - theta_sq / 48.0, torch.sin(0.5 * theta) / theta)
    w = torch.where(small, 1.0 - theta_sq / 8.0, torch.cos(0.5 * theta))
    return torch.cat((w[..., None], axis_angle * k[..., None]), dim=-1)


def matrix_to_axis_angle(matrix: Tensor) -> Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle, angle in [0, pi]."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def rotation_6d_to_matrix(d6: Tensor) -> Tensor:
    """(..., 6) two (unnormalised) columns -> (..., 3, 3) by Gram-Schmidt."""
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_rotation_6d(matrix: Tensor) -> Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns, column 0 then column 1."""
    return torch.cat((matrix[..., :, 0], matrix[..., :, 1]), dim=-1)


# --------------------------------------------------------------------------------------
# numpy rotations (scipy)
# --------------------------------------------------------------------------------------

def _flat(a: np.ndarray, tail: int) -> tuple[np.ndarray, tuple[int, ...]]:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(-1, *a.shape[a.ndim - tail:]), a.shape[:a.ndim - tail]


def axis_angle_to_matrix_np(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3), float64."""
    flat, batch = _flat(axis_angle, 1)
    return Rotation.from_rotvec(flat).as_matrix().reshape(*batch, 3, 3)


def matrix_to_axis_angle_np(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3), angle in [0, pi], float64."""
    flat, batch = _flat(matrix, 2)
    return Rotation.from_matrix(flat).as_rotvec().reshape(*batch, 3)


def quaternion_to_matrix_np(quaternion: np.ndarray) -> np.ndarray:
    """(..., 4) (w, x, y, z) -> (..., 3, 3)."""
    flat, batch = _flat(quaternion, 1)
    return Rotation.from_quat(flat, scalar_first=True).as_matrix().reshape(*batch, 3, 3)


def matrix_to_quaternion_np(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 4) (w, x, y, z) with w >= 0."""
    flat, batch = _flat(matrix, 2)
    return Rotation.from_matrix(flat).as_quat(canonical=True, scalar_first=True).reshape(*batch, 4)


def axis_angle_to_quaternion_np(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 4) (w, x, y, z) with w >= 0."""
    flat, batch = _flat(axis_angle, 1)
    return Rotation.from_rotvec(flat).as_quat(canonical=True, scalar_first=True).reshape(*batch, 4)


def quaternion_to_axis_angle_np(quaternion: np.ndarray) -> np.ndarray:
    """(..., 4) (w, x, y, z) -> (..., 3), angle in [0, pi]."""
    flat, batch = _flat(quaternion, 1)
    return Rotation.from_quat(flat, scalar_first=True).as_rotvec().reshape(*batch, 3)


def rotation_6d_to_matrix_np(d6: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt (same convention as the torch version)."""
    return rotation_6d_to_matrix(torch.as_tensor(np.asarray(d6, dtype=np.float64))).numpy()


def matrix_to_rotation_6d_np(matrix: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6)."""
    m = np.asarray(matrix)
    return np.concatenate((m[..., :, 0], m[..., :, 1]), axis=-1)


# --------------------------------------------------------------------------------------
# forward kinematics and skinning
# --------------------------------------------------------------------------------------

kinematic_levels = chain.kinematic_levels


def forward_kinematics_affine(rotations: Tensor, rest_joints: Tensor, parents: Sequence[int],
                              transl: Tensor | None = None) -> Tensor:
    """Batched forward kinematics to world 3x4 transforms ``[R | t]`` (no homogeneous row).

    Args as :func:`forward_kinematics`. Returns (B, J, 3, 4): ``[..., :3]`` the world
    rotation, ``[..., 3]`` the joint position (metres). Differentiable in rotations,
    rest_joints and transl (first derivatives; the chain's gradient is written out,
    :class:`models.chain.ChainTransforms`).

    Posing from axis-angles with points rigidly attached to joints: :func:`posed_points`.
    """
    batch, num = rotations.shape[0], rotations.shape[1]
    plan = chain.chain_plan(parents, rotations.device)
    offsets = rest_joints - rest_joints.index_select(-2, plan.parent_index)           # (J, 3) or (B, J, 3)
    offsets = torch.cat((rest_joints[..., :1, :], offsets[..., 1:, :]), dim=-2).expand(batch, num, 3)
    if transl is not None:
        offsets = torch.cat((offsets[:, :1] + transl[:, None], offsets[:, 1:]), dim=1)
    return chain.ChainTransforms.apply(torch.cat((rotations, offsets[..., None]), -1), plan)


def posed_points(root_rotation: Tensor, axis_angles: Tensor, rest_joints: Tensor, parents: Sequence[int],
                 transl: Tensor | None, point_joints: np.ndarray | Sequence[int],
                 point_offsets: Tensor) -> tuple[Tensor, Tensor]:
    """Pose a body and points rigidly attached to its joints, in one pass.

    Args:
        root_rotation: (B, 3, 3) joint 0's rotation (the global orientation).
        axis_angles: (B, J - 1, 3) local rotations of joints 1.. (radians).
        rest_joints: (J, 3), (1, J, 3) or (B, J, 3) rest joint positions, metres.
        parents: J parent indices, -1 for the root, parents before children.
        transl: (B, 3) translation added to the root, metres (None: zero).
        point_joints: (N,) the joint of each point.
        point_offsets: (N, 3), (1, N, 3) or (B, N, 3) each point's offset from its joint in the
            joint's rest frame (metres; e.g. :meth:`models.keypoints.LandmarkMap.local_offsets`).

    Returns: world (B, J, 3, 4) as :func:`forward_kinematics_affine`, and points (B, N, 3)
    ``R_world(joint) @ offset + t_world(joint)`` (metres). Differentiable in everything (first
    derivatives; Rodrigues, the chain and the points in one hand-written backward,
    :class:`models.chain.PosedPoints`).
    """
    plan = chain.chain_plan(parents, root_rotation.device)
    joints = torch.as_tensor(np.asarray(point_joints), device=root_rotation.device)
    rows = plan.inverse.index_select(0, joints)
    rest = rest_joints if rest_joints.dim() == 3 else rest_joints[None]
    offsets = point_offsets if point_offsets.dim() == 3 else point_offsets[None]
    return chain.PosedPoints.apply(root_rotation, axis_angles, rest, transl, offsets, plan, rows)


def forward_kinematics(rotations: Tensor, rest_joints: Tensor, parents: Sequence[int],
                       transl: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Batched forward kinematics.

    Args:
        rotations: (B, J, 3, 3) local joint rotations (joint 0: the global orientation).
        rest_joints: (B, J, 3) or (J, 3) rest joint positions, metres, model frame.
        parents: J parent indices, -1 for the root, parents before children.
        transl: (B, 3) translation added to the root, metres (None: zero).

    Returns:
        joints (B, J, 3) and transforms (B, J, 4, 4): world transform of each joint,
        ``joints == transforms[..., :3, 3]``.
    """
    world = forward_kinematics_affine(rotations, rest_joints, parents, transl)
    bottom = torch.zeros(4, dtype=world.dtype, device=world.device)
    bottom[3] = 1.0
    transforms = torch.cat((world, bottom.expand(*world.shape[:2], 1, 4)), dim=-2)
    return world[..., 3], transforms


def forward_kinematics_np(rotations: np.ndarray, rest_joints: np.ndarray, parents: Sequence[int],
                          transl: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Numpy twin of :func:`forward_kinematics`.

    Args: rotations (..., J, 3, 3); rest_joints (J, 3) or (..., J, 3); transl (..., 3) or None.
    Returns: joints (..., J, 3) and transforms (..., J, 4, 4), float64.
    """
    rotations = np.asarray(rotations, dtype=np.float64)
    batch = rotations.shape[:-3]
    num = rotations.shape[-3]
    rest = np.broadcast_to(np.asarray(rest_joints, dtype=np.float64), (*batch, num, 3))
    world_rot = np.empty_like(rotations)
    world_pos = np.empty((*batch, num, 3))
    world_rot[..., 0, :, :] = rotations[..., 0, :, :]
    world_pos[..., 0, :] = rest[..., 0, :] + (0.0 if transl is None else np.asarray(transl))
    kinematic_levels(parents)  # validates the order
    for j in range(1, num):
        p = parents[j]
        world_rot[..., j, :, :] = world_rot[..., p, :, :] @ rotations[..., j, :, :]
        world_pos[..., j, :] = world_pos[..., p, :] + np.einsum(
            "...ij,...j->...i", world_rot[..., p, :, :], rest[..., j, :] - rest[..., p, :])
    transforms = np.zeros((*batch, num, 4, 4))
    transforms[..., :3, :3] = world_rot
    transforms[..., :3, 3] = world_pos
    transforms[..., 3, 3] = 1.0
    return world_pos, transforms


def skinning_transforms(transforms: Tensor, rest_joints: Tensor) -> Tensor:
    """(B, J, 4, 4) world transforms, (B, J, 3) | (J, 3) rest joints -> (B, J, 3, 4) skinning matrices.

    ``A_j = G_j @ [I | -J_j]``: maps a rest-pose point to its posed position for joint j.
    """
    rot = transforms[..., :3, :3]
    t = transforms[..., :3, 3] - (rot @ rest_joints.expand_as(transforms[..., :3, 3])[..., None])[..., 0]
    return torch.cat((rot, t[..., None]), dim=-1)


def linear_blend_skinning(rest_vertices: Tensor, transforms: Tensor, rest_joints: Tensor,
                          weights: Tensor) -> Tensor:
    """Linear blend skinning.

    Args:
        rest_vertices: (B, V, 3) or (V, 3) vertices in the rest pose, metres, model frame
            (including any pose-corrective offsets).
        transforms: (B, J, 4, 4) joint world transforms from :func:`forward_kinematics`.
        rest_joints: (B, J, 3) or (J, 3) rest joints used for those transforms.
        weights: (V, J) dense skin weights, rows sum to 1.

    Returns: (B, V, 3) posed vertices.
    """
    batch, num = transforms.shape[:2]
    a = skinning_transforms(transforms, rest_joints).reshape(batch, num, 12)
    blended = (weights @ a).reshape(batch, -1, 3, 4)            # (B, V, 3, 4)
    verts = rest_vertices.expand(batch, *rest_vertices.shape[-2:])
    return (blended[..., :3] @ verts[..., None])[..., 0] + blended[..., 3]


def dense_skin_weights(indices: np.ndarray, weights: np.ndarray, num_joints: int) -> np.ndarray:
    """(V, K) joint indices + (V, K) weights -> (V, num_joints) dense weights (duplicates summed)."""
    dense = np.zeros((indices.shape[0], num_joints), dtype=np.float64)
    np.add.at(dense, (np.arange(indices.shape[0])[:, None].repeat(indices.shape[1], 1), indices), weights)
    return dense


def top_k_skin(dense: np.ndarray, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(V, J) dense weights -> (V, k) int32 joint indices of the k strongest and (V, k) float32
    weights renormalised to sum to 1 (strongest first)."""
    order = np.argsort(-dense, axis=1, kind="stable")[:, :k]
    w = np.take_along_axis(dense, order, axis=1)
    w = w / np.clip(w.sum(1, keepdims=True), 1e-12, None)
    return order.astype(np.int32), w.astype(np.float32)


def linear_blend_skinning_np(rest_vertices: np.ndarray, transforms: np.ndarray, rest_joints: np.ndarray,
                             skin_indices: np.ndarray, skin_weights: np.ndarray) -> np.ndarray:
    """Numpy linear blend skinning with K influences per vertex (the motion file's ``avatar/skin_*``).

    Args: rest_vertices (V, 3); transforms (..., J, 4, 4) from :func:`forward_kinematics_np`;
    rest_joints (J, 3); skin_indices (V, K) int; skin_weights (V, K).
    Returns: (..., V, 3) posed vertices (float64).
    """
    transforms = np.asarray(transforms, dtype=np.float64)
    rot = transforms[..., :3, :3]
    trans = transforms[..., :3, 3] - np.einsum("...jab,jb->...ja", rot, np.asarray(rest_joints, np.float64))
    mats = np.concatenate((rot, trans[..., None]), axis=-1)            # (..., J, 3, 4)
    weights = np.asarray(skin_weights, np.float64)
    blended = np.einsum("vk,...vkab->...vab", weights, mats[..., skin_indices, :, :])
    verts = np.asarray(rest_vertices, np.float64)
    return np.einsum("...vab,vb->...va", blended[..., :3], verts) + blended[..., 3]
