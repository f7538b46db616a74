"""The engine under :mod:`models.kinematics`: Rodrigues and forward kinematics with their
gradients written out (torch autograd Functions).

The fitter evaluates the body model a hundred times per clip on a few dozen frames, where
autograd's per-operation bookkeeping, not arithmetic, is the cost. So:

* tensors are laid out with the small axes first and the frames last, ``(J, 3, 4, B)`` or
  ``(3, ..., B)``, so every operation runs over contiguous rows of frames;
* joints are reordered level by level (:class:`ChainPlan`), so a level of the tree is one
  contiguous block;
* the backward passes are hand-written: Rodrigues' derivative in closed form, the chain's in
  subtree form (:func:`_chain_backward`).

Conventions as :mod:`models.kinematics` (axis-angle radians, matrices act on column vectors,
``G_0 = [R_0 | J_0 + transl]``, ``G_j = G_parent(j) @ [R_j | J_j - J_parent(j)]``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

SMALL_ANGLE_SQ = 1e-6  # below this squared angle (rad^2) Taylor series are used


# --------------------------------------------------------------------------------------
# Rodrigues
# --------------------------------------------------------------------------------------

def _rodrigues_coefficients(theta_sq: Tensor) -> tuple[Tensor, Tensor]:
    """Squared angles -> a = sin t / t and b = (1 - cos t) / t^2, Taylor series near zero."""
    small = theta_sq < SMALL_ANGLE_SQ
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    a = torch.where(small, 1.0 - theta_sq / 6.0 + theta_sq * theta_sq / 120.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta_sq / 24.0 + theta_sq * theta_sq / 720.0,
                    (1.0 - torch.cos(theta)) / (theta * theta))
    return a, b


def _rodrigues_rows(v: Tensor) -> tuple[Tensor, tuple[Tensor, ...]]:
    """(3, ...) axis-angle components (radians) -> (9, ...) the rotation matrices' entries, row
    by row, and what :func:`_rodrigues_grad` needs.

    ``R = c I + a [v]_x + b v v^T`` with ``a = sin t / t``, ``b = (1 - cos t) / t^2``,
    ``c = 1 - b t^2 = cos t``."""
    x, y, z = v
    theta_sq = x * x + y * y + z * z
    a, b = _rodrigues_coefficients(theta_sq)
    c = 1.0 - b * theta_sq
    ax, ay, az = a * x, a * y, a * z
    bx = b * x
    bxy, bxz, byz = bx * y, bx * z, b * y * z
    m = torch.stack((c + bx * x, bxy - az, bxz + ay,
                     bxy + az, c + b * y * y, byz - ax,
                     bxz - ay, byz + ax, c + b * z * z))
    return m, (v, theta_sq, a, b)


def _rodrigues_grad(g: Tensor, saved: tuple[Tensor, ...]) -> Tensor:
    """(9, ...) gradient of the entries (row by row) -> (3, ...) gradient of the components.

    With ``w = (G_zy - G_yz, G_xz - G_zx, G_yx - G_xy)`` for the upstream gradient G (3x3),
    ``dL/dv = a w + b (G + G^T) v + v (-a tr G + (c - a) / t^2 (v . w) + (a - 2b) / t^2 (v^T G v))``
    (``dc/dv = -a v``, ``a'(t) / t = (c - a) / t^2``, ``b'(t) / t = (a - 2b) / t^2``; near zero
    these are -1/3 + t^2/30 and -1/12 + t^2/180)."""
    v, theta_sq, a, b = saved
    gxx, gxy, gxz, gyx, gyy, gyz, gzx, gzy, gzz = g
    x, y, z = v
    w = torch.stack((gzy - gyz, gxz - gzx, gyx - gxy))
    sym = torch.stack((2 * gxx * x + (gxy + gyx) * y + (gxz + gzx) * z,   # (G + G^T) v
                       (gxy + gyx) * x + 2 * gyy * y + (gyz + gzy) * z,
                       (gxz + gzx) * x + (gyz + gzy) * y + 2 * gzz * z))
    small = theta_sq < SMALL_ANGLE_SQ
    safe = theta_sq.where(~small, 1.0)
    c = 1.0 - b * theta_sq
    da = torch.where(small, -1.0 / 3.0 + theta_sq / 30.0, (c - a) / safe)          # a'(t) / t
    db = torch.where(small, -1.0 / 12.0 + theta_sq / 180.0, (a - 2.0 * b) / safe)  # b'(t) / t
    vw = (v * w).sum(0)
    vgv = (v * sym).sum(0) * 0.5
    radial = -a * (gxx + gyy + gzz) + da * vw + db * vgv
    return a * w + b * sym + radial * v


class Rodrigues(torch.autograd.Function):
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices; components first inside ((3, N))."""

    @staticmethod
    def forward(ctx, axis_angle: Tensor) -> Tensor:  # type: ignore[override]
        m, saved = _rodrigues_rows(axis_angle.reshape(-1, 3).t().contiguous())   # (9, N)
        ctx.save_for_backward(*saved)
        return m.t().reshape(*axis_angle.shape[:-1], 3, 3)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        out = _rodrigues_grad(grad.reshape(-1, 9).t(), ctx.saved_tensors)          # (3, N)
        return out.t().reshape(*grad.shape[:-2], 3)


# --------------------------------------------------------------------------------------
# the chain
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


class ChainPlan:
    """Joints of a kinematic tree reordered level by level (see :func:`kinematic_levels`).

    ``order`` lists the joints level after level (row r holds joint ``order[r]``; row 0 is
    the root); ``inverse`` maps back (``x[:, order][:, inverse] == x``); level d is rows
    ``starts[d]:starts[d + 1]`` and ``parent_rows[d]`` is each of its joints' parent as a row
    of level d - 1 (None where that is the identity, e.g. finger chains); ``parent_of_rows``
    is the parent row of rows 1.., ``parent_index`` the parent of each joint (joint order; 0 for the root).
    """

    def __init__(self, parents: tuple[int, ...], device: torch.device) -> None:
        levels = kinematic_levels(parents)
        order = [j for level in levels for j in level]
        inverse = np.argsort(order)
        self.num_joints = len(order)
        self.order = torch.as_tensor(order, device=device)
        self.inverse = torch.as_tensor(inverse, device=device)
        self.starts = np.cumsum([0] + [len(level) for level in levels]).tolist()
        self.parent_rows: list[Tensor | None] = [None]
        for d in range(1, len(levels)):
            rows = [levels[d - 1].index(parents[j]) for j in levels[d]]
            same = rows == list(range(len(levels[d - 1])))
            self.parent_rows.append(None if same else torch.as_tensor(rows, device=device))
        self.parent_of_rows = torch.as_tensor([int(inverse[parents[j]]) for j in order[1:]], device=device)
        self.parent_index = torch.as_tensor([0] + list(parents[1:]), device=device)   # joint order
        self.child_rows = self.inverse[1:]          # rows of joints 1..J-1, in joint order


_PLANS: dict[tuple[tuple[int, ...], str], ChainPlan] = {}


def chain_plan(parents: Sequence[int], device: torch.device) -> ChainPlan:
    """The (cached) plan of a tree given by its parents (-1 for the root, parents first)."""
    key = (tuple(int(p) for p in parents), str(device))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = ChainPlan(key[0], device)
    return plan


def _compose(parent: Tensor, local: Tensor, out: Tensor) -> None:
    """Frames-last 3x4 products into ``out``: parent (n, 3, 4, B), local (n, 3, 4, B) -> (n, 3, 4, B)
    ``[Rp | tp] @ [R | o; 0 0 0 1] = [Rp R | Rp o + tp]``, as element-wise multiply-adds over
    the contiguous frame axis (several times faster on CPU than a batched product of 3x3s)."""
    torch.mul(parent[:, :, 0:1], local[:, 0:1], out=out)
    out.addcmul_(parent[:, :, 1:2], local[:, 1:2]).addcmul_(parent[:, :, 2:3], local[:, 2:3])
    out[:, :, 3] += parent[:, :, 3]


def _chain_forward(local: Tensor, plan: ChainPlan) -> Tensor:
    """(J, 3, 4, B) local transforms in level order -> (J, 3, 4, B) world transforms."""
    s = plan.starts
    world = torch.empty_like(local)
    world[:1] = local[:1]
    for d in range(1, len(s) - 1):
        rows = plan.parent_rows[d]
        parent = world[s[d - 1]:s[d]]
        if rows is not None:
            parent = parent.index_select(0, rows)
        _compose(parent, local[s[d]:s[d + 1]], world[s[d]:s[d + 1]])
    return world


def _chain_backward(g: Tensor, world: Tensor, plan: ChainPlan) -> Tensor:
    """(J, 3, 4, B) gradient of the world transforms (level order; overwritten) -> gradient of
    the local transforms.

    Subtree form (no product per level): moving joint j's subtree by an infinitesimal affine
    map [I + X | y] changes the loss by <M_j, X> + <m_j, y>, with sums over the subtree
    M_j = sum_k G_k W_k^T (3x3; G_k the 3x4 gradient of world transform W_k) and m_j =
    sum_k g_t,k. A change of local_j = [r | o] is such a map with X = R_p dr R_j^T and
    y = R_p do - X t_j, so d local_j = R_p^T [(M_j - m_j t_j^T) R_j | m_j].
    """
    s = plan.starts
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
    u = g                                                       # reused: [(M - m t^T) R_j | m]
    ur = u[:, :, :3]
    torch.mul(mm[:, :, 0:1], world[:, None, 0, :3], out=ur)
    for k in range(1, 3):
        ur.addcmul_(mm[:, :, k:k + 1], world[:, None, k, :3])
    u[:, :, 3] = sub[:, :, 3]
    parent = world.index_select(0, plan.parent_of_rows)         # (J - 1, 3, 4, B): R_p of rows 1..
    g_local = torch.empty_like(g)
    gl = g_local[1:]
    torch.mul(parent[:, 0, :3, None], u[1:, 0:1], out=gl)       # R_p^T u
    gl.addcmul_(parent[:, 1, :3, None], u[1:, 1:2]).addcmul_(parent[:, 2, :3, None], u[1:, 2:3])
    g_local[:1] = u[:1]                                         # the root's parent: the identity
    return g_local


def _points_forward(world: Tensor, offsets: Tensor, rows: Tensor) -> Tensor:
    """(J, 3, 4, B) world transforms, (N, 3, B | 1) offsets, (N,) rows -> (N, 3, B) points."""
    g = world.index_select(0, rows)
    pts = torch.addcmul(g[:, :, 3], g[:, :, 0], offsets[:, 0:1])
    return pts.addcmul_(g[:, :, 1], offsets[:, 1:2]).addcmul_(g[:, :, 2], offsets[:, 2:3])


def _points_backward(gp: Tensor, g: Tensor, world: Tensor, offsets: Tensor, rows: Tensor) -> Tensor:
    """(N, 3, B) gradient of the points: adds the world transforms' share to ``g`` (J, 3, 4, B)
    and returns the offsets' gradient (N, 3, B | 1)."""
    gw = torch.empty((*gp.shape[:2], 4, gp.shape[2]), dtype=gp.dtype, device=gp.device)
    torch.mul(gp[:, :, None], offsets[:, None], out=gw[:, :, :3])   # d world_j(n) = gp [off; 1]^T
    gw[:, :, 3] = gp
    g.index_add_(0, rows, gw)
    pw = world.index_select(0, rows)                                 # d offset = R^T gp
    g_off = (pw[:, :, :3] * gp[:, :, None]).sum(1)
    return g_off.sum(-1, keepdim=True) if offsets.shape[-1] == 1 else g_off


class ChainTransforms(torch.autograd.Function):
    """forward(local (B, J, 3, 4), plan) -> world (B, J, 3, 4): ``world_0 = local_0``,
    ``world_j = world_p @ [local_j; 0 0 0 1]``."""

    @staticmethod
    def forward(ctx, local: Tensor, plan: ChainPlan) -> Tensor:  # type: ignore[override]
        world = _chain_forward(local.permute(1, 2, 3, 0).index_select(0, plan.order), plan)
        ctx.save_for_backward(world)
        ctx.plan = plan
        return world.index_select(0, plan.inverse).permute(3, 0, 1, 2).contiguous()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (world,) = ctx.saved_tensors
        plan: ChainPlan = ctx.plan
        g_local = _chain_backward(grad.permute(1, 2, 3, 0).index_select(0, plan.order), world, plan)
        return g_local.index_select(0, plan.inverse).permute(3, 0, 1, 2).contiguous(), None


class PosedPoints(torch.autograd.Function):
    """The whole posing in one pass: root rotation, joints' axis-angles, rest joints and
    translation -> world transforms and points fixed to joints.

    forward(root (B, 3, 3), axis_angle (B, J - 1, 3), rest (R, J, 3) with R in {1, B},
    transl (B, 3) or None, offsets (R', N, 3) with R' in {1, B}, plan, rows (N,) the level-order
    row of each point's joint) -> world (B, J, 3, 4), points (B, N, 3).
    """

    @staticmethod
    def forward(ctx, root: Tensor, axis_angle: Tensor, rest: Tensor,  # type: ignore[override]
                transl: Tensor | None, offsets: Tensor, plan: ChainPlan,
                rows: Tensor) -> tuple[Tensor, Tensor]:
        batch = root.shape[0]
        rot, saved = _rodrigues_rows(axis_angle.permute(2, 1, 0).contiguous())   # (9, J - 1, B)
        local = torch.empty((plan.num_joints, 3, 4, batch), dtype=root.dtype, device=root.device)
        local[:, :, :3].index_copy_(0, plan.child_rows, rot.unflatten(0, (3, 3)).permute(2, 0, 1, 3))
        local[0, :, :3] = root.permute(1, 2, 0)
        rest_t = rest.permute(1, 2, 0).index_select(0, plan.order)           # (J, 3, R)
        local[1:, :, 3] = rest_t[1:] - rest_t.index_select(0, plan.parent_of_rows)   # bones
        local[0, :, 3] = rest_t[0] if transl is None else rest_t[0] + transl.t()
        world = _chain_forward(local, plan)
        off = offsets.permute(1, 2, 0)                                        # (N, 3, R')
        points = _points_forward(world, off, rows)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(world, off, *saved)
        ctx.plan, ctx.rows, ctx.rest_frames, ctx.has_transl = plan, rows, rest.shape[0], transl is not None
        return (world.index_select(0, plan.inverse).permute(3, 0, 1, 2).contiguous(),
                points.permute(2, 0, 1).contiguous())

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor | None, grad_points: Tensor | None  # type: ignore[override]
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor | None, Tensor | None, None, None]:
        world, off, *saved = ctx.saved_tensors
        plan: ChainPlan = ctx.plan
        if grad is None:                                       # (J, 3, 4, B), level order
            g = torch.zeros_like(world)
        else:
            g = grad.permute(1, 2, 3, 0).index_select(0, plan.order)
        g_off = None
        if grad_points is not None:
            g_off = _points_backward(grad_points.permute(1, 2, 0), g, world, off, ctx.rows).permute(2, 0, 1)
        g_local = _chain_backward(g, world, plan)
        g_root = g_local[0, :, :3].permute(2, 0, 1)
        g_transl = g_local[0, :, 3].t() if ctx.has_transl else None
        g_bone = g_local[:, :, 3]                                              # (J, 3, B)
        if ctx.rest_frames == 1:
            g_bone = g_bone.sum(-1, keepdim=True)
        g_rest = g_bone.clone()
        g_rest.index_add_(0, plan.parent_of_rows, g_bone[1:], alpha=-1.0)       # bone = rest_j - rest_parent
        g_rest = g_rest.index_select(0, plan.inverse).permute(2, 0, 1)
        g_rot = g_local[:, :, :3].index_select(0, plan.child_rows)             # (J - 1, 3, 3, B)
        g_aa = _rodrigues_grad(g_rot.permute(1, 2, 0, 3).reshape(9, *g_rot.shape[:1], -1), tuple(saved))
        return g_root, g_aa.permute(2, 1, 0), g_rest, g_transl, g_off, None, None
