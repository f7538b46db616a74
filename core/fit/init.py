"""Analytic initial pose from the metric 3D landmarks (a one-pass inverse kinematics).

The optimiser then only polishes: the global orientation comes from a per-frame
Kabsch fit of the torso, each limb bone gets the smallest rotation (no twist) that
points it at its landmark, and each hand's orientation is a Kabsch fit of the
knuckles to the hand landmarks. Arrays are numpy, batched over T frames; rotations
are (T, 3, 3) matrices acting on column vectors.
"""

from __future__ import annotations

import numpy as np

from models.kinematics import matrix_to_axis_angle_np
from models.skeleton import joint_index

# (joint, child joint, landmark at the joint, landmark at the child)
_LIMBS = (
    ("left_shoulder", "left_elbow", 11, 13), ("right_shoulder", "right_elbow", 12, 14),
    ("left_elbow", "left_wrist", 13, 15), ("right_elbow", "right_wrist", 14, 16),
    ("left_hip", "left_knee", 23, 25), ("right_hip", "right_knee", 24, 26),
    ("left_knee", "left_ankle", 25, 27), ("right_knee", "right_ankle", 26, 28),
)
_KNUCKLES = (("index1", 5), ("middle1", 9), ("ring1", 13), ("pinky1", 17))


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, 3), (T, 3) -> (T, 3, 3) smallest rotations taking direction a to direction b."""
    a = a / np.clip(np.linalg.norm(a, axis=-1, keepdims=True), 1e-9, None)
    b = b / np.clip(np.linalg.norm(b, axis=-1, keepdims=True), 1e-9, None)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = (a * b).sum(-1)
    # antiparallel: any perpendicular axis
    perp = np.cross(a, np.where(np.abs(a[..., :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
    axis = np.where((s < 1e-6)[..., None] & (c < 0)[..., None], perp, axis)
    axis = axis / np.clip(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-12, None)
    angle = np.arctan2(s, c)
    k = np.zeros((*a.shape[:-1], 3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -axis[..., 2], axis[..., 1], -axis[..., 0]
    k = k - np.swapaxes(k, -1, -2)
    eye = np.eye(3)
    return eye + np.sin(angle)[..., None, None] * k + (1 - np.cos(angle))[..., None, None] * (k @ k)


def kabsch(source: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rotations R (T, 3, 3) minimising sum w ||R (s - s_mean) - (t - t_mean)||^2.

    source (N, 3) or (T, N, 3); target (T, N, 3); weights (T, N)."""
    source = np.broadcast_to(source, target.shape)
    w = weights[..., None]
    wsum = np.clip(weights.sum(1)[:, None, None], 1e-9, None)
    sc = source - (w * source).sum(1, keepdims=True) / wsum
    tc = target - (w * target).sum(1, keepdims=True) / wsum
    h = np.einsum("tni,tnj->tij", w * sc, tc)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("tji,tkj->tik", vt, u)))
    d = np.where(d == 0, 1.0, d)
    diag = np.zeros((len(d), 3, 3))
    diag[:, 0, 0] = diag[:, 1, 1] = 1.0
    diag[:, 2, 2] = d
    return np.einsum("tji,tjk,tlk->til", vt, diag, u)


def initial_pose(rest: np.ndarray, parents: np.ndarray, root: np.ndarray, body_3d: np.ndarray,
                 hand_3d: np.ndarray | None = None, hand_ok: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Body and hand-orientation initial guess.

    Args:
        rest: (55, 3) rest joints (model frame, metres); parents: (55,).
        root: (T, 3, 3) global orientation (camera frame).
        body_3d: (T, 33, 3) metric landmarks (camera axes; gaps already filled).
        hand_3d: (2, T, 21, 3) hand landmarks (camera axes) or None; hand_ok: (2, T) bool.

    Returns: body_pose (T, 21, 3) axis-angle; world (T, 55, 3, 3) the joints' world rotations
    (only the chains set here are meaningful).
    """
    T = root.shape[0]
    world = np.broadcast_to(np.eye(3), (T, 55, 3, 3)).copy()
    local = np.broadcast_to(np.eye(3), (T, 55, 3, 3)).copy()
    world[:, 0] = root
    for j in range(1, 55):
        world[:, j] = world[:, parents[j]]  # rest of the chain follows its parent until set
    for name, child, lm_j, lm_c in _LIMBS:
        j, c = joint_index(name), joint_index(child)
        parent_world = world[:, parents[j]]
        target = np.einsum("tji,tj->ti", parent_world, body_3d[:, lm_c] - body_3d[:, lm_j])
        bone = np.broadcast_to(rest[c] - rest[j], target.shape)
        local[:, j] = rotation_between(bone, target)
        world[:, j] = parent_world @ local[:, j]
        for k in range(j + 1, 55):  # descendants follow
            if _descends(parents, k, j):
                world[:, k] = world[:, parents[k]] @ local[:, k]
    if hand_3d is not None:
        for side, name in ((0, "left"), (1, "right")):
            wrist = joint_index(f"{name}_wrist")
            ok = hand_ok[side] if hand_ok is not None else np.ones(T, bool)
            if not ok.any():
                continue
            src = np.stack([rest[joint_index(f"{name}_{k}")] - rest[wrist] for k, _ in _KNUCKLES] + [np.zeros(3)])
            tgt = np.stack([hand_3d[side][:, lm] - hand_3d[side][:, 0] for _, lm in _KNUCKLES]
                           + [np.zeros((T, 3))], 1)
            hand_world = kabsch(src, tgt, np.ones(tgt.shape[:2]))
            parent_world = world[:, parents[wrist]]
            loc = np.einsum("tji,tjk->tik", parent_world, hand_world)
            local[ok, wrist] = loc[ok]
    body_pose = matrix_to_axis_angle_np(local[:, 1:22])
    return body_pose.astype(np.float32), world


def _descends(parents: np.ndarray, k: int, j: int) -> bool:
    while k > 0:
        k = int(parents[k])
        if k == j:
            return True
    return False
