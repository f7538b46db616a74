"""Rotations and forward kinematics: the one toolkit, in torch and numpy.

Conventions (everywhere in this project):

* axis-angle: (..., 3) radians, the rotation vector ``angle * unit_axis``;
* rotation matrix: (..., 3, 3), acting on column vectors (``x' = R @ x``);
* quaternion: (..., 4) **scalar first** ``(w, x, y, z)`` (as Blender), unit norm;
* 6D: (..., 6) the first two **columns** of the matrix, ``(R[:,0], R[:,1])``
  (Zhou et al. 2019, "On the continuity of rotation representations").

Torch functions (``axis_angle_to_matrix``, ...) are differentiable everywhere,
including at the zero rotation, and work on any device; numpy functions carry an
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

# --------------------------------------------------------------------------------------
# torch rotations
# --------------------------------------------------------------------------------------

_SMALL_ANGLE_SQ = 1e-6  # below this squared angle (rad^2) Taylor series are used


def skew(v: Tensor) -> Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrix ``[v]_x``."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack((o, -z, y, z, o, -x, -y, x, o), dim=-1).reshape(*v.shape[:-1], 3, 3)


def axis_angle_to_matrix(axis_angle: Tensor) -> Tensor:
    """Rodrigues: (..., 3) axis-angle (radians) -> (..., 3, 3) rotation matrices.

    ``R = c I + a [v]_x + b v v^T`` with ``a = sin t / t``, ``b = (1 - cos t) / t^2``,
    ``c = 1 - b t^2 = cos t`` (the same matrix as ``I + a K + b K^2``, written element by
    element: no batched matrix product); a and b use Taylor series near zero so gradients
    stay finite. The gradient is written out (:class:`_Rodrigues`): a few dozen element-wise
    operations instead of autograd's graph of them, which dominated on short clips.
    """
    return _Rodrigues.apply(axis_angle)


def _rodrigues_coefficients(theta_sq: Tensor) -> tuple[Tensor, Tensor]:
    """(N,) squared angles -> a = sin t / t and b = (1 - cos t) / t^2, Taylor series near zero."""
    small = theta_sq < _SMALL_ANGLE_SQ
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    a = torch.where(small, 1.0 - theta_sq / 6.0 + theta_sq * theta_sq / 120.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta_sq / 24.0 + theta_sq * theta_sq / 720.0,
                    (1.0 - torch.cos(theta)) / (theta * theta))
    return a, b


class _Rodrigues(torch.autograd.Function):
    """:func:`axis_angle_to_matrix` with its gradient written out. Inside, components come
    first ((3, N) and (9, N)) so every operation runs over contiguous rows.

    With ``w = (G_zy - G_yz, G_xz - G_zx, G_yx - G_xy)`` for the upstream gradient G (3x3),
    ``dL/dv = a w + b (G + G^T) v + v (-a tr G + (c - a) / t^2 (v . w) + (a - 2b) / t^2 (v^T G v))``
    (``dc/dv = -a v``, ``a'(t) / t = (c - a) / t^2``, ``b'(t) / t = (a - 2b) / t^2``; near zero
    these are -1/3 + t^2/30 and -1/12 + t^2/180).
    """

    @staticmethod
    def forward(ctx, axis_angle: Tensor) -> Tensor:  # type: ignore[override]
        shape = axis_angle.shape
        v = axis_angle.reshape(-1, 3).t().contiguous()                        # (3, N)
        x, y, z = v
        theta_sq = x * x + y * y + z * z
        a, b = _rodrigues_coefficients(theta_sq)
        c = 1.0 - b * theta_sq
        ax, ay, az = a * x, a * y, a * z
        bx = b * x
        bxy, bxz, byz = bx * y, bx * z, b * y * z
        m = torch.stack((c + bx * x, bxy - az, bxz + ay,
                         bxy + az, c + b * y * y, byz - ax,
                         bxz - ay, byz + ax, c + b * z * z), dim=-1)          # (N, 9)
        ctx.save_for_backward(v, theta_sq, a, b)
        return m.reshape(*shape[:-1], 3, 3)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        v, theta_sq, a, b = ctx.saved_tensors
        shape = (*grad.shape[:-2], 3)
        g = grad.reshape(-1, 9).t()                                            # (9, N) rows G_00, G_01, ...
        gxx, gxy, gxz, gyx, gyy, gyz, gzx, gzy, gzz = g
        x, y, z = v
        w = torch.stack((gzy - gyz, gxz - gzx, gyx - gxy))                     # (3, N)
        sym = torch.stack((2 * gxx * x + (gxy + gyx) * y + (gxz + gzx) * z,   # (G + G^T) v
                           (gxy + gyx) * x + 2 * gyy * y + (gyz + gzy) * z,
                           (gxz + gzx) * x + (gyz + gzy) * y + 2 * gzz * z))
        small = theta_sq < _SMALL_ANGLE_SQ
        safe = theta_sq.where(~small, 1.0)
        c = 1.0 - b * theta_sq
        da = torch.where(small, -1.0 / 3.0 + theta_sq / 30.0, (c - a) / safe)          # a'(t) / t
        db = torch.where(small, -1.0 / 12.0 + theta_sq / 180.0, (a - 2.0 * b) / safe)  # b'(t) / t
        vw = (v * w).sum(0)
        vgv = (v * sym).sum(0) * 0.5
        radial = -a * (gxx + gyy + gzz) + da * vw + db * vgv
        out = a * w + b * sym + radial * v
        return out.t().reshape(shape)


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

def kinematic_levels(parents: Sequence[int]) -> list[list[int]]:
    """Joints grouped by depth (root first); every joint's parent is in an earlier level.

    Requires ``parents[j] < j`` for j > 0 (true for SMPL-X, MANO and mannequin-x).
    """
    depth: list[int] = []
    for j, p in enumerate(parents):
        if j == 0:
            if p != -1:
                raise ValueError("joint 0 must be the root (parent -1)")
            depth.append(0)
            continue
        if not 0 <= p < j:
            raise ValueError(f"parent of joint {j} is {p}: parents must precede their children")
        depth.append(depth[p] + 1)
    levels: list[list[int]] = [[] for _ in range(max(depth) + 1)]
    for j, d in enumerate(depth):
        levels[d].append(j)
    return levels


class _ChainPlan:
    """Joints of a kinematic tree reordered level by level (see :func:`kinematic_levels`).

    ``order`` lists the joints level after level; ``inverse`` maps back (``x[:, order][:, inverse]
    == x``); level d is ``order[starts[d]:starts[d + 1]]`` and ``parent_rows[d]`` is each of its
    joints' parent as a row of level d - 1 (None where that is the identity, e.g. finger chains).
    """

    def __init__(self, parents: tuple[int, ...], device: torch.device) -> None:
        levels = kinematic_levels(parents)
        order = [j for level in levels for j in level]
        self.order = torch.as_tensor(order, device=device)
        self.inverse = torch.as_tensor(np.argsort(order), device=device)
        self.starts = np.cumsum([0] + [len(level) for level in levels]).tolist()
        self.parent_rows: list[Tensor | None] = [None]
        for d in range(1, len(levels)):
            rows = [levels[d - 1].index(parents[j]) for j in levels[d]]
            same = rows == list(range(len(levels[d - 1])))
            self.parent_rows.append(None if same else torch.as_tensor(rows, device=device))
        self.parent_index = torch.as_tensor([0] + list(parents[1:]), device=device)
        inverse = np.argsort(order)
        self.parent_of_rows = torch.as_tensor([int(inverse[parents[j]]) for j in order[1:]], device=device)
        """(J - 1,) the row (level order) of each row's parent joint, rows 1.. (row 0: the root)."""


_PLANS: dict[tuple[tuple[int, ...], str], _ChainPlan] = {}


def _chain_plan(parents: Sequence[int], device: torch.device) -> _ChainPlan:
    key = (tuple(int(p) for p in parents), str(device))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _ChainPlan(key[0], device)
    return plan


def _compose(parent: Tensor, local: Tensor, out: Tensor) -> None:
    """Frames-last 3x4 products into ``out``: parent (n, 3, 4, B), local (n, 3, 4, B) -> (n, 3, 4, B)
    ``[Rp | tp] @ [R | o; 0 0 0 1] = [Rp R | Rp o + tp]``, as element-wise multiply-adds over
    the contiguous frame axis (several times faster on CPU than a batched product of 3x3s)."""
    torch.mul(parent[:, :, 0:1], local[:, 0:1], out=out)
    out.addcmul_(parent[:, :, 1:2], local[:, 1:2]).addcmul_(parent[:, :, 2:3], local[:, 2:3])
    out[:, :, 3] += parent[:, :, 3]


class _ChainTransforms(torch.autograd.Function):
    """World 3x4 transforms of a kinematic chain from local 3x4 transforms, and points fixed to
    joints, with a hand-written backward: products over all joints at once and one addition
    per level (subtree sums) instead of autograd's bookkeeping of the level-by-level products.

    forward(local (B, J, 3, 4), offsets (B | 1, N, 3) or None, plan, point_rows (N,)) ->
    world (B, J, 3, 4), points (B, N, 3) or None: ``world_0 = local_0``,
    ``world_j = world_p @ [local_j; 0 0 0 1]`` and ``point_n = world_j(n) @ [offset_n; 1]``.
    Inside, joints are reordered level by level and frames put last, (J, 3, 4, B), so a level
    is one contiguous block and every product runs over the frames.
    """

    @staticmethod
    def forward(ctx, local: Tensor, offsets: Tensor | None, plan: _ChainPlan,  # type: ignore[override]
                point_rows: Tensor | None) -> tuple[Tensor, Tensor | None]:
        s = plan.starts
        local_t = local.permute(1, 2, 3, 0).index_select(0, plan.order)        # (J, 3, 4, B)
        world = torch.empty_like(local_t)
        world[:1] = local_t[:1]
        for d in range(1, len(s) - 1):
            rows = plan.parent_rows[d]
            parent = world[s[d - 1]:s[d]]
            if rows is not None:
                parent = parent.index_select(0, rows)
            _compose(parent, local_t[s[d]:s[d + 1]], world[s[d]:s[d + 1]])
        ctx.set_materialize_grads(False)
        ctx.plan, ctx.point_rows = plan, point_rows
        points = None
        if offsets is not None and point_rows is not None:
            off = offsets.permute(1, 2, 0)                                      # (N, 3, B | 1)
            g = world.index_select(0, point_rows)                               # (N, 3, 4, B)
            pts = torch.addcmul(g[:, :, 3], g[:, :, 0], off[:, 0:1])
            pts.addcmul_(g[:, :, 1], off[:, 1:2]).addcmul_(g[:, :, 2], off[:, 2:3])
            points = pts.permute(2, 0, 1).contiguous()
            ctx.save_for_backward(local_t, world, off)
        else:
            ctx.save_for_backward(local_t, world)
        return world.index_select(0, plan.inverse).permute(3, 0, 1, 2).contiguous(), points

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor | None, grad_points: Tensor | None  # type: ignore[override]
                 ) -> tuple[Tensor | None, Tensor | None, None, None]:
        local, world, *rest = ctx.saved_tensors
        plan: _ChainPlan = ctx.plan
        s = plan.starts
        if grad is None:                                           # (J, 3, 4, B), accumulates children
            g = torch.zeros_like(world)
        else:
            g = grad.permute(1, 2, 3, 0).index_select(0, plan.order)
        g_off = None
        if grad_points is not None and rest:
            off = rest[0]                                                       # (N, 3, B | 1)
            gp = grad_points.permute(1, 2, 0)                                  # (N, 3, B)
            gw = torch.empty((*gp.shape[:2], 4, gp.shape[2]), dtype=gp.dtype, device=gp.device)
            torch.mul(gp[:, :, None], off[:, None], out=gw[:, :, :3])        # d world_j(n) = gp [off; 1]^T
            gw[:, :, 3] = gp
            g.index_add_(0, ctx.point_rows, gw)
            pw = world.index_select(0, ctx.point_rows)                         # d offset = R^T gp
            g_off = (pw[:, :, :3] * gp[:, :, None]).sum(1)                     # (N, 3, B)
            if off.shape[-1] == 1:
                g_off = g_off.sum(-1, keepdim=True)
            g_off = g_off.permute(2, 0, 1)
        # Subtree form (no product per level): moving joint j's subtree by an infinitesimal affine
        # map [I + X | y] changes the loss by <M_j, X> + <m_j, y>, with sums over the subtree
        # M_j = sum_k G_k W_k^T (3x3; G_k the 3x4 gradient of world transform W_k) and m_j =
        # sum_k g_t,k. A change of local_j = [r | o] is such a map with X = R_p dr R_j^T and
        # y = R_p do - X t_j, so d local_j = R_p^T [(M_j - m_j t_j^T) R_j | m_j].
        sub = torch.empty_like(g)                                   # (J, 3, 4, B): [M | m] per joint
        mm = sub[:, :, :3]
        torch.mul(g[:, :, 0:1], world[:, None, :, 0], out=mm)
        for k in range(1, 4):
            mm.addcmul_(g[:, :, k:k + 1], world[:, None, :, k])
        sub[:, :, 3] = g[:, :, 3]
        for d in range(len(s) - 2, 0, -1):                         # subtree sums, deepest level first
            lo, hi, plo = s[d], s[d + 1], s[d - 1]
            rows = plan.parent_rows[d]
            if rows is None:
                sub[plo:lo] += sub[lo:hi]
            else:
                sub[plo:lo].index_add_(0, rows, sub[lo:hi])
        mm.addcmul_(sub[:, :, 3:4], world[:, None, :, 3], value=-1.0)   # M - m t^T
        u = torch.empty_like(g)                                     # [(M - m t^T) R_j | m]
        ur = u[:, :, :3]
        torch.mul(mm[:, :, 0:1], world[:, None, 0, :3], out=ur)
        for k in range(1, 3):
            ur.addcmul_(mm[:, :, k:k + 1], world[:, None, k, :3])
        u[:, :, 3] = sub[:, :, 3]
        parent = world.index_select(0, plan.parent_of_rows)         # (J - 1, 3, 4, B): R_p of rows 1..
        g_local = torch.empty_like(local)
        gl = g_local[1:]
        torch.mul(parent[:, 0, :3, None], u[1:, 0:1], out=gl)       # R_p^T u
        gl.addcmul_(parent[:, 1, :3, None], u[1:, 1:2]).addcmul_(parent[:, 2, :3, None], u[1:, 2:3])
        g_local[:1] = u[:1]                                         # the root's parent: the identity
        return g_local.index_select(0, plan.inverse).permute(3, 0, 1, 2).contiguous(), g_off, None, None


def _local_transforms(rotations: Tensor, rest_joints: Tensor, plan: _ChainPlan,
                      transl: Tensor | None) -> Tensor:
    """(B, J, 3, 3) rotations, (J, 3) | (B, J, 3) rest joints, (B, 3) | None -> (B, J, 3, 4) local
    transforms ``[R_j | J_j - J_parent(j)]`` (the root: ``[R_0 | J_0 + transl]``)."""
    batch, num = rotations.shape[0], rotations.shape[1]
    offsets = rest_joints - rest_joints.index_select(-2, plan.parent_index)    # (J, 3) or (B, J, 3)
    offsets = torch.cat((rest_joints[..., :1, :], offsets[..., 1:, :]), dim=-2).expand(batch, num, 3)
    if transl is not None:
        offsets = torch.cat((offsets[:, :1] + transl[:, None], offsets[:, 1:]), dim=1)
    return torch.cat((rotations, offsets[..., None]), -1)


def forward_kinematics_affine(rotations: Tensor, rest_joints: Tensor, parents: Sequence[int],
                              transl: Tensor | None = None) -> Tensor:
    """Batched forward kinematics to world 3x4 transforms ``[R | t]`` (no homogeneous row).

    Args as :func:`forward_kinematics`. Returns (B, J, 3, 4): ``[..., :3]`` the world
    rotation, ``[..., 3]`` the joint position (metres). Differentiable in rotations,
    rest_joints and transl (first derivatives).

    Points rigidly attached to joints (markers): :func:`forward_kinematics_points`.
    """
    plan = _chain_plan(parents, rotations.device)
    return _ChainTransforms.apply(_local_transforms(rotations, rest_joints, plan, transl), None, plan, None)[0]


def forward_kinematics_points(rotations: Tensor, rest_joints: Tensor, parents: Sequence[int],
                              transl: Tensor | None, point_joints: np.ndarray | Sequence[int],
                              point_offsets: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`forward_kinematics_affine` and points rigidly attached to joints, in one pass.

    Args: as :func:`forward_kinematics`; point_joints (N,) the joint of each point;
    point_offsets (N, 3), (1, N, 3) or (B, N, 3) each point's offset from its joint in the
    joint's rest frame (metres; e.g. :meth:`models.keypoints.LandmarkMap.local_offsets`).

    Returns: world (B, J, 3, 4) as :func:`forward_kinematics_affine`, and points (B, N, 3)
    ``R_world(joint) @ offset + t_world(joint)`` (metres). Differentiable in everything
    (first derivatives), the points' gradient folded into the chain's hand-written backward.
    """
    plan = _chain_plan(parents, rotations.device)
    rows = plan.inverse.index_select(0, torch.as_tensor(np.asarray(point_joints), device=rotations.device))
    offsets = point_offsets if point_offsets.dim() == 3 else point_offsets[None]
    world, points = _ChainTransforms.apply(_local_transforms(rotations, rest_joints, plan, transl), offsets,
                                           plan, rows)
    return world, points


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
