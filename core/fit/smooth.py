"""Temporal smoothing without lag, rotation-aware.

Offline footage allows zero-phase filters: a Gaussian applied over the whole
clip (symmetric kernel, so no lag). Rotations are filtered as unit quaternions
after making their signs continuous (q and -q are the same rotation; a sign flip
would average to nonsense), then renormalised. Axis-angle output is unwrapped so
consecutive frames never jump by 2 pi along the axis.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from models.kinematics import axis_angle_to_quaternion_np, quaternion_to_axis_angle_np


def continuous_quaternions(quaternions: np.ndarray) -> np.ndarray:
    """(T, ..., 4) -> same, each row sign-flipped to agree (positive dot) with the previous one."""
    q = np.array(quaternions, dtype=np.float64, copy=True)
    for t in range(1, q.shape[0]):
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t][flip] *= -1
    return q


def unwrap_axis_angle(axis_angle: np.ndarray) -> np.ndarray:
    """(T, ..., 3) -> same rotations, each frame choosing ``v`` or ``v (1 - 2 pi / |v|)``,
    whichever is closer to the previous frame (no 2 pi wrap jumps)."""
    a = np.array(axis_angle, dtype=np.float64, copy=True)
    for t in range(1, a.shape[0]):
        norm = np.linalg.norm(a[t], axis=-1, keepdims=True)
        safe = np.where(norm > 1e-8, norm, 1.0)
        alt = a[t] * (1.0 - 2.0 * np.pi / safe)
        use = (np.linalg.norm(alt - a[t - 1], axis=-1) < np.linalg.norm(a[t] - a[t - 1], axis=-1)) \
            & (norm[..., 0] > 1e-8)
        a[t][use] = alt[use]
    return a


def smooth_rotations(axis_angle: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing of rotations.

    Args:
        axis_angle: (T, N, 3) radians.
        sigma_frames: Gaussian sigma in frames (0: unchanged).

    Returns: (T, N, 3) smoothed, unwrapped axis-angle.
    """
    if sigma_frames <= 0 or axis_angle.shape[0] < 3:
        return unwrap_axis_angle(axis_angle)
    q = continuous_quaternions(axis_angle_to_quaternion_np(axis_angle))
    q = gaussian_filter1d(q, sigma_frames, axis=0, mode="nearest")
    q /= np.clip(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12, None)
    return unwrap_axis_angle(quaternion_to_axis_angle_np(q))


def smooth_positions(values: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase Gaussian smoothing along axis 0 of any (T, ...) array."""
    if sigma_frames <= 0 or values.shape[0] < 3:
        return np.asarray(values, dtype=np.float64)
    return gaussian_filter1d(np.asarray(values, dtype=np.float64), sigma_frames, axis=0, mode="nearest")


def fill_gaps(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Linear interpolation over unknown frames (held constant beyond the ends).

    Args: values (T, ...); known (T,) bool. Returns (T, ...) float64; all zeros if nothing is known.
    """
    values = np.asarray(values, dtype=np.float64)
    if known.all():
        return values.copy()
    if not known.any():
        return np.zeros_like(values)
    t = np.arange(values.shape[0])
    flat = values.reshape(values.shape[0], -1)
    out = np.empty_like(flat)
    for k in range(flat.shape[1]):
        out[:, k] = np.interp(t, t[known], flat[known, k])
    return out.reshape(values.shape)
