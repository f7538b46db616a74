"""Interacting hands: left/right consistency, dropout spans, interpenetration.

* Flips: the hand detector may put a hand on the wrong side. Each frame the
  assignment of the two detected hands to the two body wrists (the arm chain) is
  checked against the swapped one; where the body wrists are unsure the previous
  frame decides (continuity over time).
* Dropouts: short spans without a hand are bridged by the fitter's temporal terms
  (and the initial guess interpolates across them); :func:`dropout_spans` lists them.
* Penetration: hand joints are spheres; spheres of the two hands (and hand vs
  torso) must not overlap more than touching.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from core.fit.observations import PersonObservations
from core.fit.smooth import missing_runs
from models.skeleton import joint_index

FINGER_RADIUS_M = 0.009
PALM_RADIUS_M = 0.03
TORSO_SPHERES: tuple[tuple[str, float], ...] = (
    ("pelvis", 0.11), ("spine1", 0.11), ("spine2", 0.12), ("spine3", 0.12), ("head", 0.09))
"""(joint, radius m) spheres a hand must stay out of."""

_L_WRIST_LM, _R_WRIST_LM = 15, 16


def repair_hand_flips(obs: PersonObservations, min_conf: float = 0.3) -> tuple[PersonObservations, int]:
    """Swap hands assigned to the wrong side.

    Returns: (repaired copy, number of frames changed).
    """
    h2, h3, hc = obs.hand_2d.copy(), obs.hand_3d.copy(), obs.hand_conf.copy()
    present = hc.max(-1) > 0                                        # (2, T)
    wrists = obs.body_2d[:, [_L_WRIST_LM, _R_WRIST_LM]]             # (T, 2, 2)
    wconf = obs.body_conf[:, [_L_WRIST_LM, _R_WRIST_LM]]            # (T, 2)
    changed = 0
    last = np.full((2, 2), np.nan)                                  # last seen hand wrist px per side
    for t in range(obs.num_frames):
        hw = h2[:, t, 0]                                            # (2, 2) detected hand wrists
        if wconf[t].min() >= min_conf:
            anchor = wrists[t]
        elif np.isfinite(last).all():
            anchor = last
        else:
            anchor = None
        if anchor is not None and present[:, t].any():
            def cost(order: tuple[int, int]) -> float:
                return sum(float(np.linalg.norm(hw[src] - anchor[dst]))
                           for dst, src in enumerate(order) if present[src, t])
            keep, swap = cost((0, 1)), cost((1, 0))
            if swap < 0.5 * keep:  # (a single hand moves when it sits clearly at the other wrist)
                for arr in (h2, h3, hc):
                    arr[:, t] = arr[::-1, t].copy()
                present[:, t] = present[::-1, t]
                changed += 1
        for side in range(2):
            if present[side, t]:
                last[side] = h2[side, t, 0]
            elif wconf[t, side] >= min_conf:
                last[side] = wrists[t, side]
    return replace(obs, hand_2d=h2, hand_3d=h3, hand_conf=hc), changed


def dropout_spans(present: np.ndarray, max_len: int) -> list[tuple[int, int]]:
    """(T,) bool -> [(start, stop)] spans of missing frames at most ``max_len`` long with the
    hand seen on both sides (the spans the fitter bridges smoothly)."""
    n = len(present)
    return [(a, b) for a, b in missing_runs(present) if a > 0 and b < n and b - a <= max_len]


def hand_sphere_radii() -> np.ndarray:
    """(21,) sphere radius per hand marker (MediaPipe hand order): palm-ish wrist, fingers."""
    r = np.full(21, FINGER_RADIUS_M, np.float32)
    r[0] = PALM_RADIUS_M
    return r


def penetration_loss(left: Tensor, right: Tensor, radii: Tensor, torso: Tensor | None = None,
                     torso_radii: Tensor | None = None) -> Tensor:
    """Overlap of hand spheres.

    Args:
        left, right: (T, K, 3) hand marker positions (metres); radii: (K,).
        torso: (T, S, 3) torso sphere centres; torso_radii: (S,).

    Returns: scalar sum of squared overlaps (metres^2): every pair of a left and a right hand
    sphere, and every finger sphere (wrists excluded: they may rest) of either hand against
    every torso sphere.
    """
    loss = _SphereOverlap.apply(left, right, radii[:, None] + radii[None, :])
    if torso is not None and torso_radii is not None:
        reach = radii[1:, None] + torso_radii[None, :]
        for hand in (left, right):
            loss = loss + _SphereOverlap.apply(hand[:, 1:], torso, reach)
    return loss


class _SphereOverlap(torch.autograd.Function):
    """forward(a (T, K, 3), b (T, L, 3), contact (K, L) metres) -> sum over frames and pairs of
    ``max(contact - |a_k - b_l|, 0)^2``. Overlapping pairs are few (hands mostly apart), so
    the backward visits only them instead of every pair's distance gradient."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, contact: Tensor) -> Tensor:  # type: ignore[override]
        dist = torch.cdist(a, b)                                              # (T, K, L)
        over = (contact - dist).clamp_min_(0.0)
        t, k, m = over.nonzero(as_tuple=True)
        depth = over[t, k, m]
        ctx.save_for_backward(a, b, t, k, m, depth, dist[t, k, m])
        return (depth * depth).sum()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, None]:  # type: ignore[override]
        a, b, t, k, m, depth, dist = ctx.saved_tensors
        # d/da_k of (contact - |a_k - b_l|)^2 = -2 depth (a_k - b_l) / |a_k - b_l|  (0 where they coincide)
        push = (a[t, k] - b[t, m]) * (-2.0 * grad * depth / dist.clamp_min(1e-12))[:, None]
        grad_a = torch.zeros_like(a).index_put_((t, k), push, accumulate=True)
        grad_b = torch.zeros_like(b).index_put_((t, m), -push, accumulate=True)
        return grad_a, grad_b, None


def torso_joint_indices() -> list[int]:
    """Joint indices of :data:`TORSO_SPHERES`."""
    return [joint_index(name) for name, _ in TORSO_SPHERES]
