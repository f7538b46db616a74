"""Focal length from the scene: families of lines at right angles (floor tiles, a room's walls
meeting the floor, kerbs and the road across them, and the vertical edges of posts and doors).

Lines parallel in the world meet at a vanishing point ``v = K d`` (``d``: their direction in camera
axes). Two directions at right angles (two on the ground, or one on the ground and the vertical,
which is at right angles to it whatever the scene) are two columns of a rotation, so their
vanishing points fix the focal as well as the horizon (with the principal point at the image
centre: ``f^2 = -(v1 - c).(v2 - c)``). Here that is a least-squares fit of the rotation and ``log f``
to the segments themselves (each segment's far end to the line through its midpoint and its
vanishing point, px), from a few starting focals, so that a vanishing point far off to the side,
where the product above is 0 times infinity, gives a wide uncertainty instead of a wild number.
The lens's radial distortion is fitted with them (first order, prior 1-sigma ``DISTORTION_STD``):
lines a barrel lens bends no longer point at one vanishing point, and where the data cannot tell
the distortion from the focal, the focal's 1-sigma grows. The 1-sigma of ``log f`` comes from the
fit's covariance with the rotation and the distortion taken out, times ``STD_SCALE`` and at least
``MIN_LOG_STD``. The principal point is taken at the image centre (as everywhere in the focal
estimate).

Measured (``bench/bench_focal.py``, column ``scene``, 2026-12-06; people masked as in capture):
default 35 mm +5.3 % (stated 1-sigma 18 %), long_85mm +13.0 % (30 %), medium_50mm -4.8 % (23 %);
calibration clips (``python -m samples.generate --calibration``) 20 mm -6.1 % (10 %), 28 mm +0.2 %
(10 %), 35 mm from below -6.3 % (10 %), 50 mm +12.6 % (27 %), 70 mm 0.0 % (16 %); hands_clap_35mm
+0.6 % (22 %) from the fine segments (:func:`core.horizon.segments`; its long lines across are too
nearly level). The close-up, the three walkers and the 24 mm walker look straight along one
family: its lines are level in the image, its vanishing point thousands of px off, and the fit
says nothing (dropped; square tiles give it there: :mod:`core.tile_focal`).
With vertical edges in view (``cal_24mm_posts``: a camera square to the tiles, posts behind the
walker) the vertical joins the fit: +1.0 %, where the tiles alone give nothing. Real footage: a
static camera over a campus road (opencv-doc vtest.avi, PETS 2009 View_001, calibrated 1190 px, the
principal point 60 px off the centre): +0.6 % from two level families and the vertical
(:func:`core.horizon.find_horizon`). Real photos: the opencv-doc webcam's chessboards, see
``MIN_LOG_STD``. Drawn floors, projected segments and those photos: tests/core/test_scene_focal.py,
tests/core/test_horizon.py.

Between two level families the right angle is an assumption the two alone cannot test (two
vanishing points and a focal with a rotation have the same four degrees of freedom), so
:func:`core.fit.focal.estimate_focal` checks the result against the people's perspective and the
prior before trusting it. A vertical family tests it: three families that do not fit at right
angles (``MAX_MISFIT``; 5 degrees off is 6x the misfit on projected segments) give no focal, and
three families fix the principal point, which must then be the centre (:func:`centred`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

STD_SCALE = 1.5
"""The fit's 1-sigma is multiplied by this: segment errors are correlated (a Hough line is one long
edge; real lenses bend lines) where the covariance takes them as independent."""
MIN_LOG_STD = 0.1
"""Nor is it ever taken as surer than this. At the samples' far rows the lines are a few pixels
apart and blur (the 20 mm clip's fit: 8 % off at a stated 2 %); on the opencv-doc webcam's
chessboard photos (barrel distortion, the principal point 22 px off the centre) the errors are
3-42 % (median 12.5 %) at stated 5-30 %; with this floor the RMS of error over 1-sigma there is
1.1 (1.9 with a floor of 5 %)."""
MAX_LOG_STD = 0.6
"""A result less sure than this (1-sigma of log focal, the field-of-view prior's) is dropped."""
FOV_RANGE_DEG = (10.0, 120.0)
"""Plausible horizontal fields of view; a fit outside is dropped."""
START_FOV_DEG = (20.0, 35.0, 50.0, 70.0, 90.0, 110.0)
"""The fit starts from each of these fields of view and keeps the best."""
DISTORTION_STD = 0.05
"""Prior 1-sigma of the lens's radial distortion, fitted with the focal (:func:`_straighten`: the
shift at the image's corners as a share of the half diagonal; the opencv-doc webcam's chessboard
photos, barrel k1 = -0.27, fit +0.11 to +0.13 where their lines are long; the samples 0.00)."""
PRIOR_PX = 0.3
"""The distortion prior's row is written for segments this noisy (px) and rescaled to the fit's own."""
MAX_MISFIT = 2.0
"""Three families fit at right angles when their segments' mean squared distance from the fitted
vanishing points is at most this many times that from each family's own vanishing point."""
MAX_EVALUATIONS = 100
"""Each straight-line fit stops after this many evaluations (a level family lets it wander for hundreds)."""
MAX_CENTRE_CHI2 = 5.99
"""Three families pass :func:`centred` where the principal point they fit lies within this squared
Mahalanobis distance of the image centre (95 % of a chi-square with two degrees of freedom)."""


@dataclass(frozen=True)
class LinesFit:
    """A camera fitted to families of lines at right angles: ``focal_px`` and its 1-sigma
    ``log_std`` in log focal, ``rotation`` (3, 3) whose columns are the families' directions in
    camera axes (x right, y down, z forward; a vertical family's column is the world's up or down),
    ``rms_px`` the segments' RMS distance (px) from their vanishing points' lines, ``distortion`` the
    lens's radial distortion fitted with them (:func:`_straighten`; barrel: > 0)."""

    focal_px: float
    log_std: float
    rotation: np.ndarray
    rms_px: float
    distortion: float


def centred(segments: list[np.ndarray], fit: LinesFit, image_size: tuple[int, int]) -> bool:
    """Whether three families at right angles (segments (N_k, 4) px each, in ``fit``'s order) place
    the principal point, which they fix (the orthocentre of their vanishing points), at the image
    centre: fitted free (with ``fit``'s distortion), its offset from the centre is within
    ``MAX_CENTRE_CHI2`` of its covariance. Families that fix it only loosely pass; chance alignments
    of clutter that pass :func:`right_angle_focal` put it far off."""
    center = np.array(image_size, np.float64) / 2.0
    segs = [_straighten(np.asarray(seg, np.float64), fit.distortion, center) for seg in segments]

    start = np.r_[Rotation.from_matrix(fit.rotation).as_rotvec(), math.log(fit.focal_px), 0.0, 0.0]
    best = least_squares(lambda params: _lines(params[:4], segs, center + params[4:]), start)
    sigma2 = max(float(best.fun @ best.fun) / max(len(best.fun) - 6, 1), 1e-6)
    cov = np.linalg.pinv(best.jac.T @ best.jac)[4:, 4:] * sigma2
    offset = best.x[4:]
    return float(offset @ np.linalg.pinv(cov) @ offset) <= MAX_CENTRE_CHI2


def _residuals(params: np.ndarray, families: list[np.ndarray], center: np.ndarray) -> np.ndarray:
    """params: rotation vector (3,), log focal and radial distortion (see :func:`_straighten`);
    families: K <= 3 arrays (N_k, 4) of segments x0, y0, x1, y1 px -> (sum N_k + 1,): signed distances
    (px) of each straightened segment's second end from the line through its midpoint and its
    family's vanishing point (family k: the rotation's column k), then the distortion's prior
    (``PRIOR_PX * distortion / DISTORTION_STD``)."""
    lines = _lines(params[:4], [_straighten(seg, params[4], center) for seg in families], center)
    return np.r_[lines, PRIOR_PX * params[4] / DISTORTION_STD]


def _lines(camera: np.ndarray, families: list[np.ndarray], principal: np.ndarray) -> np.ndarray:
    """camera: rotation vector (3,) and log focal; families: K <= 3 arrays (N_k, 4) of segments px;
    principal: (2,) principal point px -> (sum N_k,) signed distances (px) of each segment's second
    end from the line through its midpoint and its family's vanishing point (the rotation's column k)."""
    rot = Rotation.from_rotvec(camera[:3]).as_matrix()
    f = math.exp(camera[3])
    k = np.array([[f, 0.0, principal[0]], [0.0, f, principal[1]], [0.0, 0.0, 1.0]])
    return np.concatenate([_distances(seg, k @ rot[:, column]) for column, seg in enumerate(families)])


def _straighten(seg: np.ndarray, distortion: float, center: np.ndarray) -> np.ndarray:
    """(N, 4) segments px with radial distortion undone to first order: each end moved from the
    centre by ``1 + distortion * r^2`` (r: its distance from the centre over the half diagonal)."""
    ends = seg.reshape(-1, 2) - center
    r2 = (ends * ends).sum(1) / float(center @ center)
    return (center + ends * (1.0 + distortion * r2)[:, None]).reshape(seg.shape)


def _distances(seg: np.ndarray, point: np.ndarray) -> np.ndarray:
    """(N, 4) segments px, (3,) homogeneous vanishing point -> (N,) signed distances (px) of each
    segment's second end from the line through its midpoint and the point."""
    mid = np.c_[(seg[:, :2] + seg[:, 2:]) / 2, np.ones(len(seg))]
    line = np.cross(mid, point)
    line /= np.clip(np.linalg.norm(line[:, :2], axis=1, keepdims=True), 1e-12, None)
    return (line * np.c_[seg[:, 2:], np.ones(len(seg))]).sum(1)


def focal_of_fov(width: float, fov_deg: float) -> float:
    """Focal (px) of a horizontal field of view (degrees): :func:`core.fit.focal.focal_from_fov`
    without its input check, restated because that module imports torch, which detection (the
    horizon is found there) does not load."""
    return 0.5 * width / math.tan(math.radians(fov_deg) / 2.0)


def right_angle_focal(families: list[tuple[np.ndarray, np.ndarray]], image_size: tuple[int, int]
                      ) -> LinesFit | None:
    """The camera (focal, rotation) of two or three families of lines taken to be at right angles
    to each other (two level directions, a level one and the vertical, or all three), or None where
    they say little of the focal (1-sigma above ``MAX_LOG_STD``), give something implausible
    (outside ``FOV_RANGE_DEG``), or, with three families, do not fit at right angles (their
    segments' mean squared distance more than ``MAX_MISFIT`` times that with a vanishing point of
    each family's own).

    Args:
        families: per family (segments (N, 4) x0, y0, x1, y1 px, N >= 2; its homogeneous vanishing
            point (3,) px, where the fit starts); the first two set the start.
        image_size: (W, H) px; the principal point is the image centre.
    """
    width = float(image_size[0])
    center = np.array(image_size, np.float64) / 2.0
    segs = [np.asarray(seg, np.float64) for seg, _ in families]
    points = [np.asarray(point, np.float64) for _, point in families]
    if not 2 <= len(segs) <= 3 or min(len(seg) for seg in segs) < 2:
        return None
    # log focal between a 170 and a 2 degree field of view (the fit may wander while a family is level)
    lower = [-np.inf] * 3 + [math.log(focal_of_fov(width, 170.0))]
    upper = [np.inf] * 3 + [math.log(focal_of_fov(width, 2.0))]

    def straight(params: np.ndarray, *args: object) -> np.ndarray:     # no distortion, no prior row
        return _residuals(np.r_[params, 0.0], *args)[:-1]               # type: ignore[arg-type]

    best = None
    for fov in START_FOV_DEG:
        f0 = focal_of_fov(width, fov)
        k_inv = np.linalg.inv(np.array([[f0, 0.0, center[0]], [0.0, f0, center[1]], [0.0, 0.0, 1.0]]))
        d1, d2 = k_inv @ points[0], k_inv @ points[1]
        d1 /= np.linalg.norm(d1)
        d2 = d2 - d1 * (d1 @ d2)
        if np.linalg.norm(d2) < 1e-9:
            continue
        d2 /= np.linalg.norm(d2)
        start = np.r_[Rotation.from_matrix(np.c_[d1, d2, np.cross(d1, d2)]).as_rotvec(), math.log(f0)]
        fit = least_squares(straight, start, args=(segs, center), bounds=(lower, upper),
                            max_nfev=MAX_EVALUATIONS)
        if np.isfinite(fit.cost) and (best is None or fit.cost < best.cost):
            best = fit
    if best is None:
        return None
    # then the lens's distortion with them, from the best straight-line fit
    best = least_squares(_residuals, np.r_[best.x, 0.0], args=(segs, center),
                         bounds=(lower + [-0.5], upper + [0.5]))
    lines = best.fun[:-1]
    count = len(lines)
    sigma2 = max(float(lines @ lines) / max(count - 5, 1), 1e-6)
    if len(segs) == 3:
        own = np.concatenate([_distances(seg, point) for seg, point in zip(segs, points, strict=True)])
        if sigma2 > MAX_MISFIT * max(float(own @ own) / max(count - 6, 1), 1e-6):
            return None
    # log focal's own information: its Jacobian column less what the rotation and the distortion can
    # take up (the distortion's prior row scaled to the segments' own noise)
    jac = best.jac.copy()
    jac[-1] *= math.sqrt(sigma2) / PRIOR_PX
    others, focal_jac = np.delete(jac, 3, axis=1), jac[:, 3]
    free = focal_jac - others @ np.linalg.lstsq(others, focal_jac, rcond=None)[0]
    information = float(free @ free) / sigma2
    if not information > 0.0:
        return None
    log_std = max(STD_SCALE / math.sqrt(information), MIN_LOG_STD)
    focal = math.exp(best.x[3])
    plausible = focal_of_fov(width, FOV_RANGE_DEG[1]) <= focal <= focal_of_fov(width, FOV_RANGE_DEG[0])
    if not (math.isfinite(focal) and plausible and log_std <= MAX_LOG_STD):
        return None
    rotation = Rotation.from_rotvec(best.x[:3]).as_matrix()
    return LinesFit(focal, log_std, rotation, math.sqrt(float(lines @ lines) / count), float(best.x[4]))
