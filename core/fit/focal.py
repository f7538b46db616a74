"""Focal length: from the user, or estimated from how a known 3D body projects.

One focal per clip (static camera, square pixels, principal point at the image
centre). For a candidate focal ``f`` the per-frame translation of a known
root-relative 3D body is linear in the pinhole equations
(``f (X + t_x) = u (Z + t_z)``, ``f (Y + t_y) = v (Z + t_z)``), so the profile of the
reprojection error over ``log f`` costs a few small solves per frame. Near the lens
foreshortening makes that profile sharp; far away it is flat (only ``f / depth``
is seen) and the estimate is blended with a prior, in log space, by their
variances. The 1-sigma uncertainty goes into the motion file.

The data's variance has two parts. The statistical one comes from the profile's
curvature. The systematic one comes from the 3D structure: it is lifted from a
monocular landmark network whose depths are only known up to a scale error (the
profile's minimum moves about 1:1 with the depth scale), so the minimum is found again
with the root-relative depths scaled by ``exp(+-DEPTH_SCALE_LOG_STD)`` and half the
spread is the systematic 1-sigma. Far away both parts are large and the prior decides.

With the scene's horizon (:mod:`core.horizon`, found from level lines behind the people) the
body's lean no longer comes from the landmark network: for each candidate focal the horizon
gives the camera's tilt to the ground (``up ~ K^T l``), and each frame whose torso is within
``UPRIGHT_MAX_DEG`` of that up is turned onto it (:class:`Upright`). People stand nearly
upright (hips-to-shoulders lean of the samples' figures: medians 0.6-3.6 degrees) while the
lifted body leans up to 7.7 degrees wrong, and for an upright person lean and focal trade off
almost exactly in 2D, so this is what makes the close-up's perspective measurable. The lean's
and the horizon's own 1-sigma join the systematic variance. A horizon the people cannot stand on
(everyone's lowest landmark above it, or torsos far from its up) is refused.

The horizon's two families of level lines, taken at right angles, give the focal themselves where
neither is level in the image, and so do one and the vertical (:mod:`core.scene_focal`). That
joins the estimate as one more Gaussian term in log focal, where it is within
``SCENE_CHECK_SIGMA`` of the people's perspective with the prior (the right angle of two level
directions is an assumption). Measured (2026-12-06, ``python -m core evaluate``,
``bench/bench_focal.py``): default 13.6 -> 1.9 %, hands_clap_35mm 20.9 -> 2.8 % (from the fine
segments, :mod:`core.horizon`), long_85mm 49.5 -> 20.2 %, medium_50mm 23.4 -> 11.8 %; calibration
clips 20 mm 43 -> 1.5 %, 28 mm 7 -> 1.4 %, 35 mm from below 17 -> 5.6 %, 50 mm 44 -> 14.5 %, 70 mm
39 -> 8.5 %. The close-up, the three walkers and the 24 mm walker look straight along one family
(its lines level in the image): no focal from the right angle; with posts' vertical edges in
view (``cal_24mm_posts``, such a camera) the scene gives it: 2.5 %. The tiles' square shape
gives it there, and more surely than their right angle elsewhere (:mod:`core.tile_focal`, 2026-12-06,
from the figures above): closeup_24mm 9.4 -> 0.4 %, three_people_50mm 7.9 -> 0.4 %, 24 mm walker
25.3 -> 2.2 %, hands_clap_35mm 2.8 -> 0.8 %, default 1.9 -> 1.2 %, medium_50mm 11.8 -> 1.9 %,
long_85mm 20.2 -> 3.3 %, 50 mm walker 14.5 -> 4.1 %, 70 mm 8.5 -> 4.3 % (every floor here is square-tiled).

Measured (``bench/bench_focal.py``, ``python -m core evaluate``, 2026-12-05; error of the
estimate, posterior with the prior): closeup_24mm 67 -> 13 %, hands_clap_35mm 22 -> 18 % (upper
body only: the profile says nothing, the prior decides), default 10 -> 13 %, medium_50mm 19 ->
23 %, long_85mm 54 -> 50 %, three_people_50mm 1 -> 9 %; the raw upright minima are 1-47 % low,
about where the true 3D body with the detected 2D landmarks puts them (the 2D landmarks'
own biases; at 9 m they decide). On the calibration clips, apart from the samples
(``python -m samples.generate --calibration``; ``bench_focal.py --samples .cache/calibration``):
20 mm at 1.9 m 45 %, 24 mm walker 27 %, 28 mm from above 8 %, 35 mm from below 15 % (prior),
50 mm at 5 m 42 %, 70 mm at 7 m 40 %; RMS of (raw error / stated data 1-sigma) 1.56 there and
1.40 over all twelve clips, so the stated 1-sigma is about 1.5x small. Tried there and not kept:
a landmark-bias term growing with distance (1-sigma ``B * focal / body spread px``, B = 0.045
fitted on those clips) brings that RMS to 1.0 but the mean error from 25 to 27 %; per-landmark
3D offsets fitted to the detections (true poses, leave-one-sample-out) move the true body's raw
minimum at most a few percent, except the clap (+43 -> +10 %). Kept in the next stop (2026-12-06):
the data's 1-sigma times ``DATA_STD_SCALE`` (1.5) and the prior's 1-sigma 0.35 -> 0.6, changed
together so the balance between them moves little: posterior error / stated 1-sigma RMS 1.48 ->
0.93 on the samples (worst 3.2 -> 2.0, long_85mm), 1.77 -> 1.13 on the calibration clips; errors
closeup_24mm 12.8 -> 9.4 %, hands_clap_35mm 18.4 -> 20.9 %, default 12.5 -> 13.6 %, medium_50mm
23.4 %, long_85mm 50.0 -> 49.5 %, three_people_50mm 9.3 -> 7.9 %; calibration clips 45 -> 43, 27 ->
25, 8 -> 7, 15 -> 17, 42 -> 44, 40 -> 39 %. The raw minima stay too long for short lenses (+4 to
+31 % at 20-28 mm, except the close-up sample's -6 %) and too short for long ones (-36 to -51 % at
50-85 mm beyond 5 m). Without a horizon:

For an upright person the profile mostly measures the head-to-feet magnification, i.e. the body's
tilt to the image plane; 3 degrees of tilt error move the minimum by 15-30 % and the lifted tilt is
off by up to 8 degrees, and the detected 2D landmarks' own biases already limit the true 3D
body to 6-43 % within 3.5 m and make it meaningless beyond. So with MediaPipe-lifted
bodies and no horizon the estimate stays near the prior with a 1-sigma of 40-57 %; a
user's lens (``--focal-mm``) is the way to an exact camera.

Measured and not kept (the lifted body leans 7.7 degrees off the truth at 2.2 m, 0.1-3.4
elsewhere; its raw profile minimum is 670-750 px for every single full figure (640 px wide)
whatever the lens, 1850 for the upper-body clap, 2250 for three walkers at 7-13 m): log focal
optimised jointly with pose and translation in the place stage stays within 3 % of where it
starts (the lean absorbs it); refitting at the profile minimum of the placed body moves
closeup_24mm 66 -> 43 % after four refits but hands_clap_35mm 22 -> 79 %; turning the lifted
body onto its view ray for each candidate focal moves closeup 66 -> 65 %, clap 22 -> 16 %;
torso, thigh and shin landmarks alone put the raw minimum at 460-820 px whatever the lens
(closeup 66 -> 45 %, clap 22 -> 12 %, but medium 20 -> 30 %, long 53 -> 56 %: another constant,
not a measurement). With the true 3D body the detected 2D still gives +43 % on the clap (legs
cut off). Upright on the horizon, ankles-to-shoulders instead of hips-to-shoulders as the torso:
closeup -13 % raw instead of -7 %, three walkers +16 % instead of -1 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from core.errors import InputError
from models import kinematics as kin

PRIOR_FOV_DEG = 50.0
"""Horizontal field of view assumed when perspective says little (about a 38 mm lens on full frame)."""
PRIOR_LOG_STD = 0.6
"""Prior 1-sigma on log focal: +-1 sigma is a 21-70 mm lens on full frame, +-2 sigma 12-128 mm
(phones' ultra-wide to short tele). Was 0.35 (+-1 sigma 27-55 mm) until the calibration clips
showed the data's 1-sigma 1.5x small (see ``DATA_STD_SCALE``); the two were changed together."""
BASELINE_FOV_DEG = 55.0
"""The fixed field of view the evaluation compares against."""
_CORRELATION_INFLATION = 10.0
"""Landmark errors are correlated within a frame and across frames; the naive
least-squares variance is multiplied by this factor squared (calibrated on the samples)."""
DATA_STD_SCALE = 1.5
"""The data's 1-sigma (statistical and systematic) is multiplied by this: the RMS of (raw error /
data 1-sigma) was 1.45 on the calibration clips (``python -m samples.generate --calibration``,
shots apart from the evaluation samples) and 1.40 over all twelve clips."""
DEPTH_SCALE_LOG_STD = 0.3
"""1-sigma of log(depth scale) of the lifted 3D body: the per-clip spread of the depths
about the body's centre, fitted vs true, on the ground-truth samples (log ratios from
-0.57 to +0.46, RMS 0.29; MediaPipe world landmarks)."""
SYSTEMATIC_SPAN = 1.0
"""The systematic variants' minima are searched within this many log units of the estimate's."""
UPRIGHT_MAX_DEG = 20.0
"""A frame's 3D torso within this angle of the scene's up is taken as upright (standing,
walking); others (bending, lying) keep the landmark network's lean."""
UPRIGHT_LEAN_STD_DEG = 2.0
"""1-sigma of an upright person's torso lean about the camera's x axis (hips to shoulders vs the
floor's normal: medians 0.6-3.6 degrees on the ground-truth samples)."""
HORIZON_CHECK_DEG = 15.0
"""A horizon whose up is further than this from people's 3D torsos (median over frames, at the
prior focal) is not the ground's (the lifted torsos are 2.5-10 degrees off on the samples)."""
HORIZON_STD = 0.01
"""1-sigma of the found horizon's height, as a share of the image height (within 2 px of the
truth at 480 px on the ground-truth samples)."""


SCENE_CHECK_SIGMA = 2.5
"""The scene's focal (families of lines taken at right angles, or square tiles) is left out where
it is further than this many combined 1-sigmas from the people's perspective with the prior: lines
at another angle (a road crossing a square at 60 degrees) or oblong tiles give a confident but wrong
focal. On the samples and calibration clips where the lines' right angle gives a focal the two are
0.3-1.8 sigma apart; the four focals the tiles' shape adds (:mod:`core.tile_focal`) are all kept."""
METADATA_LOG_STD = 0.1
"""1-sigma (log focal) of a lens read from the footage's own metadata (core/lens_metadata.py): the
35 mm equivalent is rounded to whole millimetres, and video modes may crop the sensor
(stabilisation), so the pixels' perspective still refines it."""


@dataclass(frozen=True)
class LensPrior:
    """What is known of the focal apart from the pixels: ``focal_px`` with a 1-sigma ``log_std``
    in log focal, and where it came from (``source``, e.g. ``metadata``), which the estimate keeps."""

    focal_px: float
    log_std: float
    source: str


@dataclass(frozen=True)
class FocalEstimate:
    """focal_px: fx = fy (px); std_px: 1-sigma (px, 0 for user values); source:
    ``estimated``, ``prior``, ``metadata`` (the footage's lens metadata, refined by what the pixels
    measure) or ``user``; upright: people were stood upright on the scene's horizon; scene: the
    scene's lines at right angles or square tiles were joined to the estimate (:mod:`core.scene_focal`,
    :mod:`core.tile_focal`)."""

    focal_px: float
    std_px: float
    source: str
    upright: bool = False
    scene: bool = False


def focal_from_fov(image_width: float, fov_deg: float) -> float:
    """Focal in px for a horizontal field of view in degrees."""
    if not 1.0 <= fov_deg <= 179.0:
        raise InputError(f"field of view must be between 1 and 179 degrees, got {fov_deg}")
    return 0.5 * image_width / math.tan(math.radians(fov_deg) / 2.0)


def focal_from_mm(image_width: float, focal_mm: float, sensor_mm: float) -> float:
    """Focal in px from a lens focal length and the sensor width (both mm)."""
    if focal_mm <= 0 or sensor_mm <= 0:
        raise InputError(f"focal and sensor sizes must be positive, got {focal_mm} mm / {sensor_mm} mm")
    return focal_mm / sensor_mm * image_width


def user_focal(image_width: float, focal_mm: float | None = None, sensor_mm: float | None = None,
               fov_deg: float | None = None) -> FocalEstimate | None:
    """The user's focal (``--focal-mm F --sensor-mm S`` or ``--fov-deg D``), or None."""
    if fov_deg is not None:
        if focal_mm is not None:
            raise InputError("give either --fov-deg or --focal-mm/--sensor-mm, not both")
        return FocalEstimate(focal_from_fov(image_width, fov_deg), 0.0, "user")
    if focal_mm is not None:
        return FocalEstimate(focal_from_mm(image_width, focal_mm, 36.0 if sensor_mm is None else sensor_mm),
                             0.0, "user")
    if sensor_mm is not None:
        raise InputError("--sensor-mm needs --focal-mm")
    return None


def solve_translation(points_3d: np.ndarray, points_2d: np.ndarray, weights: np.ndarray,
                      focal: float, center: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Per-frame translation placing a known 3D point set on its 2D observations.

    Args:
        points_3d: (T, M, 3) points relative to any per-frame origin, metres, camera axes.
        points_2d: (T, M, 2) px; weights: (T, M) >= 0.
        focal: px; center: (2,) px.
        iterations: reweighting rounds (the linear equations are scaled by depth).

    Returns: (T, 3) translations (metres); frames without enough points get NaN.
    """
    return _translations(points_3d, points_2d, weights, np.array([focal], np.float64), center, iterations)[0]


def _translations(points_3d: np.ndarray, points_2d: np.ndarray, weights: np.ndarray, focals: np.ndarray,
                  center: np.ndarray, iterations: int = 2) -> np.ndarray:
    """:func:`solve_translation` for K candidate focals at once: (K,) px -> (K, T, 3) metres.
    ``points_3d`` is (T, M, 3), or (K, T, M, 3) where the 3D body depends on the focal.

    The normal equations of ``[f, 0, -u] . t = u Z - f X`` and ``[0, f, -v] . t = v Z - f Y``
    are assembled from weighted sums over the points, so each focal costs one batch of 3x3 solves.
    """
    uv = points_2d.astype(np.float64) - center
    x = points_3d.astype(np.float64)
    w = weights.astype(np.float64)
    f = np.asarray(focals, np.float64)[:, None]                        # (K, 1)
    u, v = uv[..., 0], uv[..., 1]
    ok = (w > 0).sum(1) >= 3                                            # (T,)
    r2 = u * u + v * v
    # the normal equations' sums over the points: of w and of w X, w Y, w Z, each times 1, u, v, u^2+v^2
    basis = np.stack((np.ones_like(u), u, v, r2), -1)                  # (T, M, 4)
    xk = np.broadcast_to(x, (len(f), *x.shape[-3:]))                    # (K, T, M, 3)
    ww = np.broadcast_to(w, (len(f), *w.shape))                         # (K, T, M)
    t = np.zeros((len(f), w.shape[0], 3))
    for _ in range(max(1, iterations)):
        wx = np.concatenate((ww[..., None], ww[..., None] * xk), -1)      # (K, T, M, 4): w, w X, w Y, w Z
        sums = np.matmul(wx.swapaxes(-1, -2), basis)                     # (K, T, 4, 4)
        sw, su, sv, suv = np.moveaxis(sums[..., 0, :], -1, 0)            # each (K, T)
        sx, sy = sums[..., 1, 0], sums[..., 2, 0]
        suz, svz, suvz = sums[..., 3, 1], sums[..., 3, 2], sums[..., 3, 3]
        sux = sums[..., 1, 1] + sums[..., 2, 2]                          # sum of w (u X + v Y)
        ata = np.zeros((*sw.shape, 3, 3))
        ata[..., 0, 0] = ata[..., 1, 1] = f * f * sw
        ata[..., 0, 2] = ata[..., 2, 0] = -f * su
        ata[..., 1, 2] = ata[..., 2, 1] = -f * sv
        ata[..., 2, 2] = suv
        atb = np.stack((f * suz - f * f * sx, f * svz - f * f * sy, -suvz + f * sux), -1)
        ata[:, ~ok] = np.eye(3)
        atb[:, ~ok] = 0.0
        t = np.linalg.solve(ata + 1e-9 * np.eye(3), atb[..., None])[..., 0]
        t[:, ~ok] = np.nan
        depth = np.clip((x[None] if x.ndim == 3 else x)[..., 2] + t[..., None, 2], 0.05, None)  # (K, T, M)
        ww = w / np.where(np.isfinite(depth), depth, 1.0) ** 2
    return t


def project(points: np.ndarray, focal: float, center: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points (m) -> (..., 2) px. Points behind the lens are clamped to 1 cm."""
    z = np.clip(points[..., 2:3], 0.01, None)
    return focal * points[..., :2] / z + center


@dataclass(frozen=True)
class Upright:
    """Stand people upright on a known horizon: for a candidate focal ``f`` the world's up in
    camera axes is ``K(f)^T line`` (the ground plane's normal), and each frame whose torso
    (mean of ``top`` rows minus mean of ``bottom`` rows of the 3D points) is within
    ``UPRIGHT_MAX_DEG`` of it is turned about its centroid so that the torso is along it,
    tilted by ``lean_deg`` about the camera's x axis (0, or +-the lean uncertainty). Which frames
    are upright is decided once, with the up of ``select_focal`` (px; 0: each candidate's own),
    so that the profile over focals has no steps.

    line: (3,) horizon ``a x + b y + c = 0`` px; top, bottom: row indices into the points."""

    line: np.ndarray
    top: tuple[int, ...]
    bottom: tuple[int, ...]
    lean_deg: float = 0.0
    select_focal: float = 0.0

    def up(self, focal: float | np.ndarray, center: np.ndarray) -> np.ndarray:
        """(3,) unit world up in camera axes (y down) for a focal (px) and principal point (2,) px;
        (K, 3) for K focals."""
        f = np.asarray(focal, np.float64)
        a, b, c = np.asarray(self.line, np.float64)
        up = np.stack(np.broadcast_arrays(f * a, f * b, center[0] * a + center[1] * b + c), -1)   # K^T line
        up = up / np.linalg.norm(up, axis=-1, keepdims=True)
        up = np.where(up[..., 1:2] > 0, -up, up)
        return up @ kin.axis_angle_to_matrix_np(np.array([math.radians(self.lean_deg), 0.0, 0.0])).T

    def fits(self, bodies: list[tuple[np.ndarray, np.ndarray, np.ndarray]], focal: float,
             center: np.ndarray) -> bool:
        """Whether the people can stand on this horizon (a line that is not the ground's
        horizon, from a textured scene, is refused): in most seen frames their lowest confident
        2D landmark is below it (the camera is above the ground), and their 3D torsos are, at
        the median, within ``HORIZON_CHECK_DEG`` of the up it gives at ``focal`` (px)."""
        up = self.up(focal, center)
        a, b, c = np.asarray(self.line, np.float64) * (1.0 if self.line[1] >= 0 else -1.0)
        below, angles = [], []
        for p3, p2, w in bodies:
            conf = w > 0.3
            seen = conf.any(1)
            if not seen.any():
                continue
            lowest = np.argmax(np.where(conf, p2[..., 1], -np.inf), axis=1)[seen]
            pts = p2[seen][np.arange(int(seen.sum())), lowest]
            below.append(a * pts[:, 0] + b * pts[:, 1] + c > 0)
            angles.append(np.degrees(np.arccos(np.clip(self.torso(p3[seen]) @ up, -1.0, 1.0))))
        if not below:
            return False
        return bool(np.concatenate(below).mean() > 0.5
                    and np.median(np.concatenate(angles)) <= HORIZON_CHECK_DEG)

    def apply(self, bodies: list[tuple[np.ndarray, np.ndarray, np.ndarray]], focals: np.ndarray,
              center: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The bodies with their upright frames turned onto the world's up (see the class), for
        K focals (px): each body's points become (K, T, M, 3)."""
        ups = self.up(np.asarray(focals, np.float64).reshape(-1), center)             # (K, 3)
        select = self.up(self.select_focal, center) if self.select_focal > 0 else None
        min_cos = math.cos(math.radians(UPRIGHT_MAX_DEG))
        out = []
        for p3, p2, w in bodies:
            torso = self.torso(p3)                                                # (T, 3)
            centre = p3.mean(1, keepdims=True)
            rot = rotations_between(torso, ups)                                   # (K, T, 3, 3)
            cos = torso @ (ups.T if select is None else select[:, None])          # (T, K | 1)
            rot[np.broadcast_to((cos < min_cos).T, rot.shape[:2])] = np.eye(3)
            out.append((np.matmul(p3 - centre, rot.swapaxes(-1, -2)) + centre, p2, w))   # (K, T, M, 3)
        return out

    def torso(self, points: np.ndarray) -> np.ndarray:
        """(T, M, 3) points -> (T, 3) unit torso directions (mean of the ``top`` rows minus mean of
        the ``bottom`` rows)."""
        torso = points[:, list(self.top)].mean(1) - points[:, list(self.bottom)].mean(1)
        return torso / np.clip(np.linalg.norm(torso, axis=1, keepdims=True), 1e-9, None)


def rotations_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations taking unit vectors a (T, 3) onto the unit vector b (3,) -> (T, 3, 3), or
    onto each of K unit vectors b (K, 3) -> (K, T, 3, 3) (about a x b; a = -b, which
    :class:`Upright` never turns, gives the identity)."""
    bk = np.atleast_2d(np.asarray(b, np.float64))[:, None, :]               # (1 | K, 1, 3)
    cross = np.cross(a, bk)                                                 # (1 | K, T, 3)
    sin = np.linalg.norm(cross, axis=-1, keepdims=True)
    angle = np.arctan2(sin, (a * bk).sum(-1, keepdims=True))
    rotvec = np.where(sin > 1e-12, cross / np.clip(sin, 1e-12, None) * angle, 0.0)
    rot = kin.axis_angle_to_matrix_np(rotvec)
    return rot[0] if np.ndim(b) == 1 else rot


def _profile_costs(logs: np.ndarray, bodies: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                   center: np.ndarray, upright: Upright | None = None) -> tuple[np.ndarray, int]:
    """(K,) log focals -> (K,) sums of squared, size-normalised, clipped reprojection errors,
    and the number of weighted points. With ``upright`` the 3D bodies depend on the focal."""
    focals = np.exp(np.asarray(logs, np.float64))
    if upright is not None:
        bodies = upright.apply(bodies, focals, center)               # 3D points (K, T, M, 3)
    total, count = np.zeros(len(focals)), 0
    for p3, p2, w in bodies:
        t = _translations(p3, p2, w, focals, center)                 # (K, T, 3)
        ok = np.isfinite(t).all(-1).all(0)
        if not ok.any():
            continue
        pts = (p3[ok][None] if p3.ndim == 3 else p3[:, ok]) + t[:, ok, None]   # (K, T', M, 3)
        proj = focals[:, None, None, None] * pts[..., :2] / np.clip(pts[..., 2:3], 0.01, None) + center
        obs, ww = p2[ok], w[ok]
        scale = _body_scale_px(obs, ww)
        r = np.minimum(np.linalg.norm(proj - obs, axis=-1) / scale[:, None], 0.2)
        total += (ww * r * r).sum((1, 2))
        count += int((ww > 0).sum())
    return total, count


def _body_scale_px(points_2d: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(T, M, 2), (T, M) -> (T,) RMS spread of the weighted points about their centroid (px)."""
    wsum = np.clip(weights.sum(1, keepdims=True), 1e-9, None)
    centroid = (weights[..., None] * points_2d).sum(1) / wsum
    spread = (weights * ((points_2d - centroid[:, None]) ** 2).sum(-1)).sum(1) / wsum[:, 0]
    return np.sqrt(np.clip(spread, 1.0, None))


def _scale_depth(bodies: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 factor: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The bodies with each frame's depths (z) about its weighted centre multiplied by ``factor``."""
    out = []
    for p3, p2, w in bodies:
        wsum = np.clip(w.sum(1, keepdims=True), 1e-9, None)
        zc = (w * p3[..., 2]).sum(1, keepdims=True) / wsum
        q = p3.astype(np.float64).copy()
        q[..., 2] = zc + factor * (q[..., 2] - zc)
        out.append((q, p2, w))
    return out


def _profile_minimum(bodies: list[tuple[np.ndarray, np.ndarray, np.ndarray]], center: np.ndarray,
                     logs: np.ndarray, upright: Upright | None = None) -> float:
    """Log focal minimising the profile: the best node of the grid ``logs``, a finer grid
    around it, then a parabola through the best three."""
    costs, _ = _profile_costs(logs, bodies, center, upright)
    k = int(np.argmin(costs))
    lo, hi = logs[max(k - 1, 0)], logs[min(k + 1, len(logs) - 1)]
    fine = np.linspace(lo, hi, 9)
    fine_costs, _ = _profile_costs(fine, bodies, center, upright)
    j = int(np.clip(np.argmin(fine_costs), 1, 7))
    x3, y3 = fine[j - 1:j + 2], fine_costs[j - 1:j + 2]
    a, b, _ = np.polyfit(x3 - x3[1], y3, 2)
    best = x3[1] - b / (2 * a) if a > 0 else fine[int(np.argmin(fine_costs))]
    return float(np.clip(best, lo, hi))


def estimate_focal(bodies: list[tuple[np.ndarray, np.ndarray, np.ndarray]], image_size: tuple[int, int],
                   prior_fov_deg: float = PRIOR_FOV_DEG, prior_log_std: float = PRIOR_LOG_STD,
                   depth_log_std: float = DEPTH_SCALE_LOG_STD, grid: int = 24,
                   upright: Upright | None = None, lens: LensPrior | None = None,
                   scene: LensPrior | None = None) -> FocalEstimate:
    """Focal from people's known 3D structure and its projection.

    Args:
        bodies: per person ``(points_3d (T, M, 3) m root-relative in camera axes,
            points_2d (T, M, 2) px, weights (T, M))``.
        image_size: (W, H) px.
        prior_fov_deg, prior_log_std: the prior on log focal.
        depth_log_std: 1-sigma of the log depth scale of ``points_3d`` (0: exact depths).
        grid: number of log-spaced candidates between 10 and 120 degrees field of view.
        upright: the scene's horizon and the torso rows: people are stood upright on it for
            each candidate focal (their lean then comes from the scene, not from ``points_3d``),
            and the lean's and the horizon's uncertainties join the systematic variance.
        lens: a prior from outside the pixels (the footage's metadata) in place of the field-of-view
            prior; the estimate keeps its ``source``.
        scene: the focal the scene's lines give taken at right angles (:mod:`core.scene_focal`):
            joined to the estimate where it agrees with the people's perspective and the prior within
            ``SCENE_CHECK_SIGMA`` (the right angle is an assumption), else left out.

    Returns: the posterior estimate; ``source`` is ``prior`` when the uncertainties of the people's
    perspective and of the scene's lines (if used) are both larger than the prior's.
    """
    width = float(image_size[0])
    center = np.array(image_size, np.float64) / 2.0
    prior = math.log(lens.focal_px if lens else focal_from_fov(width, prior_fov_deg))
    prior_log_std = lens.log_std if lens else prior_log_std
    logs = np.linspace(math.log(focal_from_fov(width, 120.0)), math.log(focal_from_fov(width, 10.0)), grid)
    # the prior with the scene's lines: the starting guess (which frames are upright), and the answer
    # where there are no people to measure
    guess, guess_var = _combine([(prior, prior_log_std**2)] + _scene_term(scene))
    _, count = _profile_costs(np.array([prior]), bodies, center)
    if count < 6:
        used = scene is not None and _agrees(scene, prior, prior_log_std**2)
        mean, var = (guess, guess_var) if used else (prior, prior_log_std**2)
        return FocalEstimate(math.exp(mean), math.exp(mean) * math.sqrt(var),
                             lens.source if lens else "estimated" if used else "prior", scene=used)
    if upright is not None and upright.select_focal <= 0:
        upright = replace(upright, select_focal=math.exp(guess))
    if upright is not None and not upright.fits(bodies, upright.select_focal, center):
        upright = None
    best = _profile_minimum(bodies, center, logs, upright)
    # statistical variance: the curvature over a wide bracket (flat profiles: small curvature)
    step = 0.15
    (cm, c0, cp), _ = _profile_costs(np.array([best - step, best, best + step]), bodies, center, upright)
    curvature = max((cp + cm - 2 * c0) / step**2, 1e-12)
    sigma2 = max(c0, 1e-12) / max(count - 3, 1)
    stat_var = 2.0 * sigma2 / curvature * _CORRELATION_INFLATION**2
    # systematic variance: how far the minimum moves with the 3D depth scale (and, upright, with
    # the people's lean and the horizon's height), half the spread per cause
    # (searched within SYSTEMATIC_SPAN of the minimum: a larger shift outweighs the prior anyway)
    near = logs[np.abs(logs - best) <= SYSTEMATIC_SPAN]
    sys_var = 0.0
    if depth_log_std > 0:
        shifted = [_profile_minimum(_scale_depth(bodies, math.exp(sign * depth_log_std)), center, near,
                                    upright) for sign in (-1.0, 1.0)]
        sys_var += ((shifted[1] - shifted[0]) / 2.0) ** 2
    if upright is not None:
        for variant in _upright_variants(upright, float(image_size[1])):
            shifted = [_profile_minimum(bodies, center, near, v) for v in variant]
            sys_var += ((shifted[1] - shifted[0]) / 2.0) ** 2
    data_var = (stat_var + sys_var) * DATA_STD_SCALE**2
    prior_var = prior_log_std**2
    terms = [(best, data_var), (prior, prior_var)]
    used = scene is not None and _agrees(scene, *_combine(terms))
    scene_terms = _scene_term(scene) if used else []
    post, post_var = _combine(terms + scene_terms)
    measured = min([data_var] + [var for _, var in scene_terms]) < prior_var
    source = lens.source if lens else "estimated" if measured else "prior"
    focal = math.exp(post)
    return FocalEstimate(focal, focal * math.sqrt(post_var), source, upright is not None, used)


def _scene_term(scene: LensPrior | None) -> list[tuple[float, float]]:
    """The scene's focal as a (log focal, variance) term, none without one."""
    return [] if scene is None else [(math.log(scene.focal_px), scene.log_std**2)]


def _combine(terms: list[tuple[float, float]]) -> tuple[float, float]:
    """Independent Gaussian (mean, variance) terms in log focal -> their product's (mean, variance)."""
    weight = sum(1.0 / var for _, var in terms)
    return sum(mean / var for mean, var in terms) / weight, 1.0 / weight


def _agrees(scene: LensPrior, mean: float, var: float) -> bool:
    """Whether the scene's focal is within ``SCENE_CHECK_SIGMA`` of the rest of what is known
    (``mean``, ``var`` in log focal)."""
    gap = abs(math.log(scene.focal_px) - mean)
    return gap <= SCENE_CHECK_SIGMA * math.sqrt(scene.log_std**2 + var)


def _upright_variants(upright: Upright, height: float) -> list[tuple[Upright, Upright]]:
    """Pairs of ``upright`` moved by -+1 sigma: the people's lean, the horizon's height."""
    a, b, c = upright.line
    shift = HORIZON_STD * height * math.hypot(a, b)
    return [(replace(upright, lean_deg=-UPRIGHT_LEAN_STD_DEG),
             replace(upright, lean_deg=UPRIGHT_LEAN_STD_DEG)),
            (replace(upright, line=np.array([a, b, c - shift])),
             replace(upright, line=np.array([a, b, c + shift])))]
