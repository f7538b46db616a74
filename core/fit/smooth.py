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


def missing_runs(present: np.ndarray) -> list[tuple[int, int]]:
    """(T,) bool -> [(start, stop)]: every maximal run of False frames, ``present[start:stop]``."""
    missing = np.concatenate([[0], (~np.asarray(present, bool)).astype(np.int8), [0]])
    edges = np.diff(missing)
    starts, stops = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]


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


def motion_period(values: np.ndarray, known: np.ndarray, min_lag: int, max_lag: int,
                  min_corr: float = 0.6) -> int:
    """The lag (frames) at which a (T, ...) signal first repeats itself over its known frames:
    the first peak of the correlation of the de-meaned signal with its shifted self that
    reaches ``min_corr`` (a multiple of the period correlates as well), or 0 if no lag in
    ``[min_lag, max_lag]`` does (the motion is not periodic)."""
    x = np.asarray(values, np.float64).reshape(len(values), -1)
    x = x - x[known].mean(0) if known.any() else x
    best, best_c = 0, min_corr
    for lag in range(min_lag, min(max_lag, len(x) - 1) + 1):
        both = known[lag:] & known[:-lag]
        if both.sum() < max(lag // 2, 8):
            continue
        a, b = x[lag:][both], x[:-lag][both]
        c = float((a * b).sum() / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
        if c >= best_c:
            best, best_c = lag, c
        elif best:            # past the first peak
            break
    return best


def fill_gaps_periodic(values: np.ndarray, known: np.ndarray, period: int) -> np.ndarray:
    """Unknown frames of a (T, ...) signal taken from one ``period`` earlier (or later) where that
    frame is known, plus the linear blend of the differences at the gap's two edges, so the fill
    keeps moving like the seen frames (a walker's legs keep swinging) and meets both edges.
    Frames with no known frame a period away are left as they are."""
    out = np.array(values, np.float64, copy=True)
    if period <= 0 or known.all() or not known.any():
        return out
    T = len(out)
    src = np.full(T, -1)
    for t in np.nonzero(~known)[0]:
        if t - period >= 0 and known[t - period]:
            src[t] = t - period
        elif t + period < T and known[t + period]:
            src[t] = t + period
    for a, b in missing_runs(known):             # gap [a, b)
        if (src[a:b] < 0).any():
            continue
        def offset(edge: int) -> np.ndarray | None:
            ref = edge - period if edge - period >= 0 else edge + period
            return out[edge] - out[ref] if 0 <= ref < T else None
        lo = offset(a - 1) if a > 0 else None
        hi = offset(b) if b < T else None
        lo = hi if lo is None else lo
        hi = lo if hi is None else hi
        if lo is None or hi is None:
            continue
        for k, f in enumerate(range(a, b)):
            w = (k + 1) / (b - a + 1)
            out[f] = values[src[f]] + (1 - w) * lo + w * hi
    return out
