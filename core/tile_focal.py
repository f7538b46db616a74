"""Focal length from square floor tiles, where the tiles' vanishing points alone say nothing of it.

A camera square to a tiled floor sees one family of the tiles' lines run to a vanishing point on the
horizon and the other lie level in the image (its vanishing point at infinity), so the right angle
between them fixes no focal (:mod:`core.scene_focal`). The tiles' shape still does. With the horizon
known, mapping the image onto the floor (``P = K^-1 x / (n . K^-1 x)``, the floor's normal
``n ~ K^T l``) keeps parallel floor lines parallel and evenly spaced whatever the focal; the focal
sets how much the floor is stretched along the view against across it. Square tiles have one spacing
in both directions, and the focal that gives it is the camera's: the distance point of perspective
drawing (a square's diagonal vanishes on the horizon as far from the tiles' vanishing point as that
point is from the eye).

Each family's segments are mapped onto the floor and placed by their offset across the family's
direction; the offsets sit on a lattice whose step is the tile's edge. The step is the largest one a
weighted periodogram finds them all on (a missing line does not halve it); each segment's whole
number of steps is then kept and, for each candidate focal, a weighted straight-line fit gives each
family's spacing. The focal is where the two are equal; its 1-sigma comes from the spacings' own
(times ``scene_focal.STD_SCALE``, at least ``scene_focal.MIN_LOG_STD``). Far rows are a few pixels
apart and blur: each segment weighs by its length over the square of how far one pixel moves it on
the floor.

Measured (``bench/bench_focal.py``, column ``scene``, 2026-12-06): the samples that look straight
along their tiles, closeup_24mm 425 px for the true 427, three_people_50mm 891 for 889,
hands_clap_35mm 624 for 622 (nearly along them), and the calibration clip cal_24mm_walk 426 for
427; where it replaces a less sure right angle (:func:`core.horizon.tiles_instead`), default 629 for
622, medium_50mm 893 for 889, long_85mm 1543 for 1511, cal_50mm_walk 895 for 889, cal_70mm 1238 for
1244; each stated at the floor of 10 %. Drawn rooms 300-800 px within 5 % (tests/core/test_horizon.py).
Real photos: the opencv-doc webcam's chessboards (square, but not floors: their vanishing lines lie
1.3-2.5 image heights off the centre, beyond ``MAX_HORIZON_OFF``) would give a focal on 5 of
the 13, +9, -6, +25, 0 and -18 % off at a stated 10-12 %: there the vanishing line's own
uncertainty, which this does not count, matters.

Square is an assumption the tiles cannot test (planks or oblong tiles give a wrong focal):
:func:`core.fit.focal.estimate_focal` keeps a scene focal only where it agrees with the people's
perspective and the prior.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from core.scene_focal import FOV_RANGE_DEG, MAX_LOG_STD, MIN_LOG_STD, STD_SCALE, focal_of_fov

MAX_HORIZON_OFF = 1.0
"""The horizon passes at most this many image heights from the centre: further off, two families'
vanishing points place it too loosely for the floor's shape to mean much."""
MIN_BELOW = 0.03
"""Segments used lie below the horizon by at least this share of the image height (the floor)."""
MIN_STEPS = 4
"""Each family needs lines on at least this many lattice steps."""
MIN_FILLED = 0.5
"""... and lines on at least this share of the steps between its first and last."""
MIN_SCORE = 0.6
"""The lattice must fit the family's offsets this well (weighted mean resultant of their phases, 0-1)."""
FUNDAMENTAL = 0.9
"""The lattice step is the largest whose periodogram score is within this share of the best's."""
INLIER_STEP = 0.2
"""A segment is on the lattice where its offset is within this share of a step from a lattice line."""
MULTIPLE_SHARE = 0.75
"""Where this share of the lines found sits on every other (or third) step, the step is two (three)
times longer."""
SCAN_POINTS = 4000
"""Candidate steps scanned (log spaced) by the periodogram."""


def _floor_points(points: np.ndarray, focal: float, horizon: np.ndarray, image_size: tuple[int, int]
                 ) -> np.ndarray:
    """(N, 2) image points px below ``horizon`` (3,) px -> (N, 2) points on the floor, in units of
    the camera's height above it (axes: across the view, along it), for a camera of ``focal`` px
    with the principal point at the centre of an image ``image_size`` (W, H) px."""
    k = np.array([[focal, 0.0, image_size[0] / 2.0], [0.0, focal, image_size[1] / 2.0], [0.0, 0.0, 1.0]])
    normal = k.T @ np.asarray(horizon, np.float64)
    normal /= np.linalg.norm(normal)
    rays = np.c_[points, np.ones(len(points))] @ np.linalg.inv(k).T
    on_floor = rays / (rays @ normal)[:, None]
    across = np.array([1.0, 0.0, 0.0]) - normal[0] * normal
    across /= np.linalg.norm(across)
    return np.c_[on_floor @ across, on_floor @ np.cross(normal, across)]


def _offsets(seg: np.ndarray, focal: float, horizon: np.ndarray, image_size: tuple[int, int]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Segments (N, 4) px of one family -> their midpoints' offsets (N,) on the floor across the
    family's mean direction there, and how far (N,) one pixel across each segment moves it."""
    mid = (seg[:, :2] + seg[:, 2:]) / 2.0
    along = seg[:, 2:] - seg[:, :2]
    along /= np.linalg.norm(along, axis=1, keepdims=True)
    moved = mid + np.c_[-along[:, 1], along[:, 0]]
    q0, q1, qm, qn = (_floor_points(p, focal, horizon, image_size)
                      for p in (seg[:, :2], seg[:, 2:], mid, moved))
    d = q1 - q0
    length = np.linalg.norm(d, axis=1)
    d /= np.clip(length, 1e-12, None)[:, None]
    scatter = (d[:, :, None] * d[:, None, :] * length[:, None, None]).sum(0)
    normal = np.linalg.eigh(scatter)[1][:, 0]                   # across the family's direction
    return qm @ normal, np.abs((qn - qm) @ normal)


def _lattice(offsets: np.ndarray, per_px: np.ndarray, weights: np.ndarray) -> np.ndarray | None:
    """Whole steps (N,) of offsets (N,) on their lattice (the largest step a weighted periodogram
    fits them all on), -1 for those off it or placed too loosely (a pixel moves them ``per_px`` (N,)
    more than ``INLIER_STEP`` of a step); None where no step fits well or too few steps show."""
    spread = float(np.ptp(offsets[weights >= np.quantile(weights, 0.5)]))
    if not spread > 0.0:
        return None
    steps = np.geomspace(max(spread / 100.0, 1e-9), spread / 2.0, SCAN_POINTS)
    phases = np.exp(2j * np.pi * offsets[None, :] / steps[:, None])
    score = np.abs(phases @ weights) / weights.sum()
    pick = int(np.nonzero(score >= FUNDAMENTAL * score.max())[0][-1])
    while pick > 0 and score[pick - 1] > score[pick]:          # to the top of that peak
        pick -= 1
    if score[pick] < MIN_SCORE:
        return None
    step = float(steps[pick])
    while True:                   # ends: each longer step leaves fewer lines, then fewer than MIN_STEPS
        phase = float(np.angle(np.exp(2j * np.pi * offsets / step) @ weights)) / (2.0 * np.pi) * step
        whole = np.round((offsets - phase) / step)
        on = (np.abs(offsets - phase - whole * step) <= INLIER_STEP * step) & (per_px <= INLIER_STEP * step)
        found = np.unique(whole[on])
        if len(found) < MIN_STEPS or len(found) < MIN_FILLED * (found[-1] - found[0] + 1):
            return None
        # clutter between the lines can make half the step score best: where nearly all the lines
        # found sit on every other (or third) step, the step is that
        share = [max(float(np.mean(found % m == r)) for r in range(m)) for m in (2, 3)]
        if max(share) < MULTIPLE_SHARE:
            break
        step *= 2 if share[0] >= MULTIPLE_SHARE else 3
    whole = whole - whole[on].min()
    whole[~on] = -1
    return whole


def _spacing(offsets: np.ndarray, weights: np.ndarray, whole: np.ndarray) -> tuple[float, float]:
    """Weighted straight-line fit offsets = a + spacing * whole (whole >= 0 only): (|spacing|, its
    1-sigma)."""
    on = whole >= 0
    x, y, w = whole[on], offsets[on], weights[on]
    xm, ym = (w @ x) / w.sum(), (w @ y) / w.sum()
    sxx = float(w @ (x - xm) ** 2)
    slope = float(w @ ((x - xm) * (y - ym))) / sxx
    residual = y - ym - slope * (x - xm)
    variance = float(w @ residual**2) / max(len(x) - 2, 1) / sxx
    return abs(slope), math.sqrt(variance)


def square_tiles_focal(families: list[np.ndarray], horizon: np.ndarray, image_size: tuple[int, int]
                       ) -> tuple[float, float] | None:
    """The focal (px) and its 1-sigma in log focal at which two families of floor lines come at one
    spacing (square tiles), or None where they do not sit on lattices, no plausible focal
    (``FOV_RANGE_DEG``) evens them, or the result is less sure than ``MAX_LOG_STD``.

    Args:
        families: two arrays (N, 4) of segments x0, y0, x1, y1 px, one per direction of the tiles.
        horizon: (3,) the horizon ``a x + b y + c = 0`` px with b > 0 (below it: ``> 0``).
        image_size: (W, H) px; the principal point is the image centre.
    """
    width, height = float(image_size[0]), float(image_size[1])
    line = np.asarray(horizon, np.float64)
    line = line / np.linalg.norm(line[:2])
    if abs(line @ [width / 2.0, height / 2.0, 1.0]) > MAX_HORIZON_OFF * height:
        return None
    kept = []
    for seg in families:
        seg = np.asarray(seg, np.float64)
        below = np.minimum(seg[:, :2] @ line[:2], seg[:, 2:] @ line[:2]) + line[2] >= MIN_BELOW * height
        kept.append(seg[below])
    if min(len(seg) for seg in kept) < MIN_STEPS:
        return None
    lengths = [np.linalg.norm(seg[:, 2:] - seg[:, :2], axis=1) for seg in kept]
    reference = focal_of_fov(width, 55.0)
    wholes = []
    for seg, length in zip(kept, lengths, strict=True):
        offsets, per_px = _offsets(seg, reference, line, image_size)
        whole = _lattice(offsets, per_px, length / per_px**2)
        if whole is None:
            return None
        wholes.append(whole)

    def log_ratio(log_f: float) -> tuple[float, float]:
        fits = []
        for seg, length, whole in zip(kept, lengths, wholes, strict=True):
            offsets, per_px = _offsets(seg, math.exp(log_f), line, image_size)
            fits.append(_spacing(offsets, length / per_px**2, whole))
        (sa, da), (sb, db) = fits
        return math.log(sa / sb), math.hypot(da / sa, db / sb)

    grid = np.linspace(math.log(focal_of_fov(width, FOV_RANGE_DEG[1])),
                       math.log(focal_of_fov(width, FOV_RANGE_DEG[0])), 40)
    values = np.array([log_ratio(g)[0] for g in grid])
    change = np.nonzero(np.sign(values[:-1]) * np.sign(values[1:]) < 0)[0]
    if len(change) != 1:
        return None
    i = int(change[0])
    root = brentq(lambda g: log_ratio(g)[0], grid[i], grid[i + 1], xtol=1e-6)
    slope = (values[i + 1] - values[i]) / (grid[i + 1] - grid[i])
    log_std = max(STD_SCALE * log_ratio(root)[1] / abs(slope), MIN_LOG_STD)
    if not log_std <= MAX_LOG_STD:
        return None
    return math.exp(root), log_std
