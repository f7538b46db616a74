"""Plain-numpy curve tools (no bpy): greedy key reduction and rotation-aware smoothing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def reduce_keys(frames: np.ndarray, values: np.ndarray, tolerance: float,
                error: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Indices of keys to keep so linear interpolation stays within ``tolerance``.

    Douglas-Peucker on a multi-channel curve: ``values`` (N,C) are evaluated together
    (a key is kept if any channel would leave the bound). Endpoints are always kept.

    Args:
        frames: (N,) increasing frame numbers.
        values: (N,) or (N,C) values.
        tolerance: largest allowed error.
        error: error(interpolated (M,C), actual (M,C)) -> (M,); default: the largest
            absolute channel difference. Rotations pass their angle, locations a distance.

    Returns:
        (K,) sorted int indices into frames.
    """
    v = np.asarray(values, dtype=np.float64).reshape(len(frames), -1)
    t = np.asarray(frames, dtype=np.float64)
    n = len(t)
    if n <= 2:
        return np.arange(n)
    keep = np.zeros(n, dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        w = ((t[a + 1:b] - t[a]) / (t[b] - t[a]))[:, None]
        interp = (1 - w) * v[a] + w * v[b]
        err = np.abs(v[a + 1:b] - interp).max(axis=1) if error is None else error(interp, v[a + 1:b])
        worst = int(np.argmax(err))
        if err[worst] > tolerance:
            m = a + 1 + worst
            keep[m] = True
            stack.extend(((a, m), (m, b)))
    return np.flatnonzero(keep)


def quat_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (radians) between (...,4) quaternions (not necessarily normalised)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return 2.0 * np.arccos(np.clip(np.abs(np.sum(a * b, axis=-1)), 0.0, 1.0))


def gaussian_weights(sigma: float) -> np.ndarray:
    """(2r+1,) Gaussian kernel summing to 1, ``sigma`` in samples (frames); r = max(1, round(3 sigma))."""
    radius = max(1, int(round(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def smooth_range(values: np.ndarray, start: int, stop: int, sigma: float, quaternion: bool = False) -> np.ndarray:
    """Gaussian-smooth rows ``start:stop`` of a (N,C) signal, blending into the untouched rows.

    Args:
        values: (N,C) one row per frame.
        start, stop: row range to re-smooth (stop exclusive).
        sigma: Gaussian sigma in frames.
        quaternion: rows are (w,x,y,z) quaternions: signs are made continuous first and
            the result is renormalised (rotation-aware averaging).

    Returns:
        (N,C) copy; rows outside [start, stop) unchanged, and a cosine ramp of
        ``ceil(2 sigma)`` rows at each end of the range so the edit has no step.
    """
    original = np.array(values, dtype=np.float64, copy=True)
    v = original.copy()
    if quaternion:
        for i in range(1, len(v)):
            if np.dot(v[i], v[i - 1]) < 0:
                v[i] = -v[i]
    w = gaussian_weights(sigma)
    r = len(w) // 2
    padded = np.pad(v, ((r, r), (0, 0)), mode="edge")
    smoothed = np.stack([np.convolve(padded[:, c], w, mode="valid") for c in range(v.shape[1])], axis=1)
    blend = np.zeros(len(v))
    blend[start:stop] = 1.0
    ramp = min(int(np.ceil(2 * sigma)), max((stop - start) // 2, 1))
    if ramp > 0:
        up = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp + 2)[1:-1])
        blend[start:start + ramp] = np.minimum(blend[start:start + ramp], up[:len(blend[start:start + ramp])])
        tail = blend[max(stop - ramp, start):stop]
        blend[max(stop - ramp, start):stop] = np.minimum(tail, up[::-1][-len(tail):])
    out = v + blend[:, None] * (smoothed - v)
    touched = blend > 0
    if quaternion:
        out[touched] /= np.linalg.norm(out[touched], axis=1, keepdims=True)
        flip = np.sum(out * original, axis=1) < 0          # back to each key's own sign
        out[flip] *= -1.0
    out[~touched] = original[~touched]
    return out
