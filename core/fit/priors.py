"""Anatomical joint limits and a simple pose prior (no learned prior ships offline).

Limits are boxes on the axis-angle components of each local joint rotation
(radians, model frame: x to the body's left, y up, z forward). For the moderate
angles of real joints the components behave like Euler angles, so a box is a fair
soft limit. Left-side boxes are written out; right-side boxes are their mirror
images (mirroring x -> -x maps axis-angle ``(a, b, c)`` to ``(a, -b, -c)``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

_WIDE = ((-2.6, 2.6), (-2.6, 2.6), (-2.6, 2.6))

# left-side (and central) body joints: name -> ((x lo, hi), (y lo, hi), (z lo, hi))
_BODY_LEFT: dict[str, tuple[tuple[float, float], ...]] = {
    "hip": ((-2.4, 0.7), (-0.9, 0.9), (-0.6, 1.5)),
    "knee": ((-0.1, 2.7), (-0.35, 0.35), (-0.25, 0.25)),
    "ankle": ((-0.9, 0.9), (-0.6, 0.6), (-0.5, 0.5)),
    "foot": ((-0.7, 0.7), (-0.3, 0.3), (-0.3, 0.3)),
    "collar": ((-0.5, 0.5), (-0.6, 0.6), (-0.6, 0.6)),
    "shoulder": _WIDE,
    "elbow": ((-1.8, 1.8), (-2.8, 0.1), (-0.35, 0.35)),
    "wrist": ((-1.3, 1.3), (-0.9, 0.9), (-1.5, 1.5)),
}
_BODY_CENTRAL: dict[str, tuple[tuple[float, float], ...]] = {
    "spine1": ((-0.5, 1.1), (-0.6, 0.6), (-0.5, 0.5)),
    "spine2": ((-0.4, 0.6), (-0.5, 0.5), (-0.4, 0.4)),
    "spine3": ((-0.4, 0.6), (-0.5, 0.5), (-0.4, 0.4)),
    "neck": ((-0.7, 0.9), (-1.0, 1.0), (-0.6, 0.6)),
    "head": ((-0.7, 0.9), (-1.0, 1.0), (-0.6, 0.6)),
}
_BODY_ORDER = ("left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
               "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
               "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow",
               "right_elbow", "left_wrist", "right_wrist")

# left-hand finger joints (fingers point +x, the palm faces -y: flexion is negative z)
_KNUCKLE = ((-0.35, 0.35), (-0.45, 0.45), (-1.8, 0.5))
_PHALANX = ((-0.25, 0.25), (-0.2, 0.2), (-2.0, 0.15))
_THUMB = ((-1.3, 1.3), (-1.3, 1.3), (-1.3, 1.3))
_HAND_LEFT = tuple(lim for finger in ("index", "middle", "pinky", "ring")
                   for lim in (_KNUCKLE, _PHALANX, _PHALANX)) + (_THUMB, _THUMB, _THUMB)

POSE_PRIOR_WEIGHTS = np.array(
    [0.5, 0.5, 2.0, 0.2, 0.2, 2.0, 0.5, 0.5, 2.0, 1.0, 1.0, 1.0, 2.0, 2.0, 1.0,
     0.1, 0.1, 0.1, 0.1, 0.5, 0.5], dtype=np.float32)
"""Per body joint weight of the L2 pose prior (spine and collars are kept near rest
because the landmarks barely see them; limbs move freely)."""


def _mirror(box: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
    (xl, xh), (yl, yh), (zl, zh) = box
    return ((xl, xh), (-yh, -yl), (-zh, -zl))


def body_limits() -> np.ndarray:
    """(21, 3, 2) float32 [lo, hi] of body_pose rows (SMPL-X joints 1..21)."""
    rows = []
    for name in _BODY_ORDER:
        if name in _BODY_CENTRAL:
            rows.append(_BODY_CENTRAL[name])
        elif name.startswith("left_"):
            rows.append(_BODY_LEFT[name[5:]])
        else:
            rows.append(_mirror(_BODY_LEFT[name[6:]]))
    return np.asarray(rows, np.float32)


def hand_limits(side: str) -> np.ndarray:
    """(15, 3, 2) float32 [lo, hi] of the absolute finger rotations (hand_pose + hand_mean)."""
    rows = _HAND_LEFT if side == "left" else tuple(_mirror(b) for b in _HAND_LEFT)
    return np.asarray(rows, np.float32)


def limit_penalty(axis_angle: Tensor, limits: Tensor) -> Tensor:
    """Squared excess over a box. axis_angle (..., N, 3); limits (N, 3, 2) -> scalar (sum)."""
    return ((axis_angle - axis_angle.clamp(limits[..., 0], limits[..., 1])) ** 2).sum()


def pose_prior(body_pose: Tensor, weights: Tensor) -> Tensor:
    """Weighted L2 of body_pose (..., 21, 3) with weights (21,) -> scalar (sum)."""
    return (weights[:, None] * body_pose**2).sum()
