"""The horizon: where the ground plane's vanishing points lie, found from straight lines in the scene.

Lines that are parallel in the world and level (floor tiles, road markings, the edges of a
room, kerbs, shelves) meet in the image at a vanishing point on the horizon; two such families
in different directions fix the horizon line. With the horizon, a camera's tilt to the ground
follows from its focal length (``up ~ K^T l``), which is what :mod:`core.fit.focal` needs to
stand people upright instead of trusting the landmark network's lean.

The static background is the per-pixel median of frames sampled over the clip (people who
move leave it), and the pixels people cover in many of those frames are ignored. Straight
segments come from Canny edges and the probabilistic Hough transform (it joins collinear
edges whatever their contrast, so a checkerboard's rows make one long line), vanishing points
from a length-weighted RANSAC over pairs of segments. The horizon is the most supported line
through two vanishing points that is nearly level (a family of near-vertical segments is the
vertical direction, not the ground). Scenes without such lines (a plain wall, a blurred
background) give ``None``, and the focal estimate works without a horizon. Taken at right angles,
the same two families also give a focal (:mod:`core.scene_focal`), where their vanishing points are
not too far off to the side; a family of vertical edges (posts, door frames, a room's corners), at
right angles to the ground whatever the scene, joins that fit and tests the two level families'
right angle (where they fail it, the vertical with the longer of them gives the focal). A camera
square to a room sees one level family only (the other is level in the image, at infinity): with
the vertical it gives the focal and the horizon (``K^-T up``); with a second level family instead
(the tiles' lines across, level in the image) the tiles' square shape gives it
(:mod:`core.tile_focal`). Where the long lines give no focal,
the families are found again with the line segment detector's short, sub-pixel segments added
(``segments(fine=True)``), and that focal is kept where it comes with the same horizon: a family
nearly level in the image (hands_clap_35mm) is placed by them.

Before all that, two level families and the vertical that fit at right angles, with the principal
point they fix (their vanishing points' orthocentre) at the image centre, are taken first, from the
long lines or else the fine segments, whatever the longest pair says: three directions test the
right angle two only assume, so these families may be half the usual size. Real footage needs
this: on a real static camera watching people cross a campus road (opencv-doc vtest.avi, PETS 2009
View_001, calibrated at 1190 px) the longest families mix kerbs of different directions, and the
three at right angles give 1197 px; on photos without three such directions in view (leuvenB's
cobbles, drawings) chance alignments pass the misfit test but put the principal point far off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import cv2
import numpy as np

from core.scene_focal import MIN_LOG_STD, LinesFit, centred, right_angle_focal
from core.tile_focal import square_tiles_focal

WORK_PX = 960
"""Frames are scaled down to at most this width before looking for lines."""
MIN_SEGMENT = 0.05
"""Shortest segment used, as a fraction of the image diagonal."""
INLIER_DEG = 1.5
"""A segment belongs to a vanishing point if it points at it within this angle."""
MIN_FAMILY_SEGMENTS = 8
"""A vanishing point needs at least this many segments ..."""
MIN_FAMILY_LENGTH = 1.0
"""... and this much segment length, as a fraction of the image width."""
MAX_ROLL_DEG = 20.0
"""The horizon is at most this far from level (the camera's roll)."""
VERTICAL_DEG = 30.0
"""A family whose segments are on average within this angle of the image's vertical is the
world's vertical direction (walls' edges, people), not a direction on the ground."""
LOOSE_SHARE = 0.5
"""Three families that fit at right angles (two level ones and the vertical) need only this share
of ``MIN_FAMILY_SEGMENTS`` and ``MIN_FAMILY_LENGTH`` each (the vertical's length as a share of the
image's height: upright edges span heights)."""
TESTED_PAIRS = 3
"""At most this many level pairs, the longest, are tried with the vertical."""
HORIZON_AGREE = 0.01
"""The fine segments' focal is kept where their horizon is within this share of the image height
of the long lines' one."""
TILES_AGREE = 2.5
"""Square tiles' focal replaces a less sure one of the same lines at right angles where the two are
within this many combined 1-sigmas."""
PEOPLE_SHARE = 0.3
"""Pixels covered by people in at least this share of the sampled frames are ignored."""


@dataclass(frozen=True)
class Horizon:
    """The horizon line ``a x + b y + c = 0`` in source pixels, ``line`` = (a, b, c) with
    (a, b) a unit vector, b > 0; ``support``: the number of segments of the two families it comes
    from (two level ones, or one and the vertical); ``focal_px`` and ``focal_log_std``: the focal
    the families give taken at right angles (:mod:`core.scene_focal`) or as square tiles
    (:mod:`core.tile_focal`; px and 1-sigma of log focal), 0 where they say little; ``tested``: they
    come from three families that fit at right angles (two level ones and the vertical), which tests
    the right angle the two alone assume."""

    line: np.ndarray
    support: int
    focal_px: float = 0.0
    focal_log_std: float = 0.0
    tested: bool = False

    def y_at(self, x: float) -> float:
        """Image row (px) of the horizon at column ``x`` (px)."""
        return row_at(self.line, x)


def row_at(line: np.ndarray, x: float) -> float:
    """Image row (px) at column ``x`` (px) of a line ``a x + b y + c = 0`` (3,) that is not vertical."""
    a, b, c = np.asarray(line, np.float64)
    return float(-(c + a * x) / b)


def _work_size(width: int, height: int) -> tuple[float, tuple[int, int]]:
    """(scale, (w, h)) of a frame shrunk to at most ``WORK_PX`` wide (scale 1: as it is)."""
    scale = min(1.0, WORK_PX / float(width))
    return scale, (max(1, round(width * scale)), max(1, round(height * scale)))


def background(frames: list[np.ndarray]) -> np.ndarray:
    """(H, W, 3) uint8 per-pixel median of a few frames (N of (H, W, 3) uint8)."""
    return np.median(np.stack(frames), axis=0).astype(np.uint8)


def segments(gray: np.ndarray, ignore: np.ndarray | None = None, fine: bool = False) -> np.ndarray:
    """(N, 4) straight segments x0, y0, x1, y1 (px) of a grayscale image (H, W) uint8, at least
    ``MIN_SEGMENT`` of its diagonal long: the probabilistic Hough transform's on Canny edges (long
    lines whatever their contrast), and with ``fine`` the line segment detector's as well
    (``cv2.LineSegmentDetector``: sub-pixel, from the gradient; short edges such as one tile's or a
    window's). Those whose midpoint is in ``ignore`` (H, W) bool are left out."""
    found = [_hough_segments(gray)] + ([_fine_segments(gray)] if fine else [])
    return _kept(np.concatenate(found), gray.shape, ignore)


def _min_length(shape: tuple[int, ...]) -> int:
    """Shortest segment kept (px) in an image of ``shape``: ``MIN_SEGMENT`` of its diagonal."""
    return int(MIN_SEGMENT * math.hypot(*shape[:2]))


def _hough_segments(gray: np.ndarray) -> np.ndarray:
    """(N, 4) px: the probabilistic Hough transform's segments on Canny edges."""
    min_len = _min_length(gray.shape)
    found = cv2.HoughLinesP(cv2.Canny(gray, 40, 120), 1, np.pi / 720, threshold=max(20, min_len // 2),
                            minLineLength=min_len, maxLineGap=4)
    return np.zeros((0, 4)) if found is None else found[:, 0].astype(np.float64)


def _fine_segments(gray: np.ndarray) -> np.ndarray:
    """(N, 4) px: the line segment detector's segments."""
    found = cv2.createLineSegmentDetector().detect(gray)[0]
    return np.zeros((0, 4)) if found is None else found[:, 0].astype(np.float64)


def _kept(seg: np.ndarray, shape: tuple[int, ...], ignore: np.ndarray | None) -> np.ndarray:
    """The segments (N, 4) px at least ``_min_length`` long whose midpoint is not in ``ignore``."""
    seg = seg[np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]) >= _min_length(shape)]
    if ignore is not None and len(seg):
        mid = np.round((seg[:, :2] + seg[:, 2:]) / 2).astype(int)
        mid[:, 0] = np.clip(mid[:, 0], 0, ignore.shape[1] - 1)
        mid[:, 1] = np.clip(mid[:, 1], 0, ignore.shape[0] - 1)
        seg = seg[~ignore[mid[:, 1], mid[:, 0]]]
    return seg


@dataclass(frozen=True)
class _Family:
    point: np.ndarray        # (3,) homogeneous vanishing point, unit length
    members: np.ndarray      # (N,) bool over the segments
    length: float            # px
    vertical: bool


def vanishing_points(seg: np.ndarray, rng: np.random.Generator, count: int = 4,
                     iterations: int = 1500) -> list[_Family]:
    """Up to ``count`` vanishing points of segments (N, 4) px, strongest first, each taking its
    segments out of the pool (RANSAC over length-weighted pairs, then a least-squares refit)."""
    if len(seg) < 2:
        return []
    p0 = np.c_[seg[:, :2], np.ones(len(seg))]
    p1 = np.c_[seg[:, 2:], np.ones(len(seg))]
    lines = np.cross(p0, p1)
    lines /= np.linalg.norm(lines[:, :2], axis=1, keepdims=True)
    mid = (seg[:, :2] + seg[:, 2:]) / 2
    direction = seg[:, 2:] - seg[:, :2]
    length = np.linalg.norm(direction, axis=1)
    direction /= length[:, None]
    tol = math.sin(math.radians(INLIER_DEG))

    def pointing_at(v: np.ndarray) -> np.ndarray:
        to = v[None, :2] - v[2] * mid                    # midpoint -> v (or v's direction at infinity)
        norm = np.linalg.norm(to, axis=1) + 1e-12
        return np.abs(direction[:, 0] * to[:, 1] - direction[:, 1] * to[:, 0]) / norm < tol

    pool = np.ones(len(seg), bool)
    out: list[_Family] = []
    for _ in range(count):
        idx = np.nonzero(pool)[0]
        if len(idx) < 2:
            break
        i = rng.choice(idx, iterations, p=length[idx] / length[idx].sum())
        j = rng.choice(idx, iterations, p=length[idx] / length[idx].sum())
        cand = np.cross(lines[i], lines[j])
        norm = np.linalg.norm(cand, axis=1)
        cand = cand[(i != j) & (norm > 1e-12)] / norm[(i != j) & (norm > 1e-12), None]
        if not len(cand):
            break
        best, best_len = None, 0.0
        for v in np.unique(np.round(cand, 9), axis=0):
            s = float(length[pointing_at(v) & pool].sum())
            if s > best_len:
                best, best_len = v, s
        if best is None:
            break
        members = pointing_at(best) & pool
        point = np.linalg.svd(lines[members] * length[members, None])[2][-1]
        members = pointing_at(point) & pool
        if members.sum() < 2:
            break
        vertical_share = float((np.abs(direction[members, 1]) > math.cos(math.radians(VERTICAL_DEG)))
                               @ length[members]) / float(length[members].sum())
        out.append(_Family(point, members, float(length[members].sum()), vertical_share > 0.5))
        pool &= ~members
    return out


def find_horizon(frames: list[np.ndarray], people: list[np.ndarray] | None = None,
                 seed: int = 0, source_width: int | None = None) -> Horizon | None:
    """The horizon of a static camera's footage, or None where the scene shows too few level lines.

    Args:
        frames: a few (H, W, 3) uint8 frames spread over the clip (BGR or RGB).
        people: per frame, an (H, W) bool mask of the pixels people cover (or None).
        seed: RANSAC seed (the result is deterministic for given frames).
        source_width: the width (px) of the footage the frames were shrunk from (default: W).

    Returns: the horizon in the source footage's pixels.
    """
    if not frames:
        return None
    h, w = frames[0].shape[:2]
    source_w = source_width or w
    scale, size = _work_size(w, h)
    scale *= w / float(source_w)                            # work pixels per source pixel

    def small(a: np.ndarray, interp: int) -> np.ndarray:
        return a if scale == 1.0 else cv2.resize(a, size, interpolation=interp)

    gray = cv2.cvtColor(background([small(f, cv2.INTER_AREA) for f in frames]), cv2.COLOR_BGR2GRAY)
    ignore = None
    if people:
        share = np.mean([small(m.astype(np.uint8), cv2.INTER_NEAREST) for m in people], axis=0)
        ignore = cv2.dilate((share >= PEOPLE_SHARE).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    source_size = (source_w, round(h * source_w / w))
    long_lines = segments(gray, ignore)
    first = _from_segments(long_lines, size[0], scale, source_size, seed)
    if first is not None and first.tested:
        return first
    # again with the fine segments too (as ``segments(fine=True)``, the long lines not found twice),
    # whose sub-pixel directions pin a far vanishing point better: taken where three families fit
    # at right angles there; else its focal is kept where the long lines gave none and it finds
    # the same horizon (or the long lines found none)
    with_fine = np.concatenate([long_lines, _kept(_fine_segments(gray), gray.shape, ignore)])
    second = _from_segments(with_fine, size[0], scale, source_size, seed)
    if second is not None and second.tested:
        return second
    if first is not None and first.focal_px > 0:
        return first
    if second is None or second.focal_px <= 0:
        return first
    if first is None:
        return second
    column = source_size[0] / 2.0
    if abs(second.y_at(column) - first.y_at(column)) > HORIZON_AGREE * source_size[1]:
        return first
    return replace(first, focal_px=second.focal_px, focal_log_std=second.focal_log_std)


def _from_segments(seg: np.ndarray, work_width: int, scale: float, source_size: tuple[int, int],
                   seed: int) -> Horizon | None:
    """The horizon (and focal) of segments (N, 4) in work px (``scale`` work px per source px), in
    the source footage's pixels (``source_size`` (W, H)); see :func:`find_horizon`."""
    def fit(chosen: list[_Family]) -> LinesFit | None:
        to_source = np.diag([1.0, 1.0, scale])               # a vanishing point's work px -> source px
        return right_angle_focal([(seg[f.members] / scale, to_source @ f.point) for f in chosen], source_size)

    def fit_centred(chosen: list[_Family]) -> LinesFit | None:
        lines_fit = fit(chosen)
        if lines_fit is None or not centred([seg[f.members] / scale for f in chosen], lines_fit, source_size):
            return None
        return lines_fit

    rng = np.random.default_rng(seed)
    families = vanishing_points(seg, rng)
    tested = _tested(families + _vertical_family(seg, families, rng), fit_centred,
                     (work_width, source_size[1] * scale))
    if tested is not None:
        line, lines_fit, support = tested
        return Horizon(_to_source(line, scale), support, lines_fit.focal_px, lines_fit.log_std, True)
    found = [f for f in families
             if f.members.sum() >= MIN_FAMILY_SEGMENTS and f.length >= MIN_FAMILY_LENGTH * work_width]
    level = [f for f in found if not f.vertical]
    vertical = [f for f in found if f.vertical][:1]
    best = next(iter(_level_pairs(level)), None)
    if best is not None:
        # two level directions: the line through their vanishing points; taken at right angles (with
        # the vertical where it shows, which tests that) they give the focal
        _, line, a, b = best
        line = _to_source(line, scale)
        lines_fit = fit([a, b] + vertical)
        if lines_fit is None and vertical:
            # the level pair is not at right angles (or says little): the vertical still is, to each
            lines_fit = fit([max((a, b), key=lambda f: f.length), vertical[0]])
        support = int(a.members.sum() + b.members.sum())
        if lines_fit is None or lines_fit.log_std > MIN_LOG_STD:    # else no tiles' focal is surer
            tiles = square_tiles_focal([seg[a.members] / scale, seg[b.members] / scale], line, source_size)
            if tiles_instead(tiles, lines_fit):
                return Horizon(line, support, *tiles)
    elif level and vertical:
        # one level direction and the vertical, at right angles whatever the scene: the camera's tilt
        # and focal, so the horizon is where the ground's directions vanish (``K^-T up``)
        lines_fit = fit([level[0], vertical[0]])
        if lines_fit is None:
            return None
        f = lines_fit.focal_px
        k = np.array([[f, 0.0, source_size[0] / 2], [0.0, f, source_size[1] / 2], [0.0, 0.0, 1.0]])
        line = _to_source(np.linalg.inv(k).T @ lines_fit.rotation[:, 1], 1.0)
        if abs(line[0]) > math.sin(math.radians(MAX_ROLL_DEG)):
            return None
        support = int(level[0].members.sum() + vertical[0].members.sum())
    else:
        return None
    if lines_fit is None:
        return Horizon(line, support)
    return Horizon(line, support, lines_fit.focal_px, lines_fit.log_std)


def tiles_instead(tiles: tuple[float, float] | None, lines_fit: LinesFit | None) -> bool:
    """Whether square tiles' focal (px, 1-sigma of log focal; :mod:`core.tile_focal`) is taken in
    place of the same two families' right angle (``lines_fit``): where that says nothing (one family
    level in the image), or is less sure and agrees within ``TILES_AGREE`` combined 1-sigmas (which
    tests the square the tiles alone assume)."""
    if tiles is None:
        return False
    if lines_fit is None:
        return True
    gap = abs(math.log(tiles[0] / lines_fit.focal_px))
    return tiles[1] < lines_fit.log_std and gap <= TILES_AGREE * math.hypot(tiles[1], lines_fit.log_std)


def _tested(families: list[_Family], fit: Callable[[list[_Family]], LinesFit | None],
            work_size: tuple[float, float]) -> tuple[np.ndarray, LinesFit, int] | None:
    """Two level families and the vertical that ``fit`` at right angles (with the principal point
    they fix at the image centre: :func:`core.scene_focal.centred`), a test chance alignments of
    clutter fail, so smaller families count (``LOOSE_SHARE`` of a frame ``work_size`` (W, H) px: a
    street's few kerbs and facades). The longest such level pair: (its horizon (3,) work px, the
    fit, the level families' segment count), or None."""
    loose = [f for f in families if f.members.sum() >= LOOSE_SHARE * MIN_FAMILY_SEGMENTS
             and f.length >= LOOSE_SHARE * MIN_FAMILY_LENGTH * work_size[1 if f.vertical else 0]]
    up = next((f for f in loose if f.vertical), None)
    if up is None:
        return None
    for _, line, a, b in _level_pairs([f for f in loose if not f.vertical])[:TESTED_PAIRS]:
        lines_fit = fit([a, b, up])
        if lines_fit is not None:
            return line, lines_fit, int(a.members.sum() + b.members.sum())
    return None


def _to_source(line: np.ndarray, scale: float) -> np.ndarray:
    """A line (3,) in work px (``scale`` work px per source px) in source px, scaled so that (a, b) is
    a unit vector with b > 0."""
    line = np.array([line[0], line[1], line[2] / scale])
    line = line / np.linalg.norm(line[:2])
    return line if line[1] > 0 else -line


def _vertical_family(seg: np.ndarray, families: list[_Family], rng: np.random.Generator) -> list[_Family]:
    """The vertical family among the steep segments (N, 4) px that none of ``families`` took, where
    none of them is vertical (upright edges are often fewer than a scene's level lines): [] or one."""
    if any(f.vertical for f in families):
        return []
    direction = seg[:, 2:] - seg[:, :2]
    steep = np.abs(direction[:, 1]) > math.cos(math.radians(VERTICAL_DEG)) * np.linalg.norm(direction, axis=1)
    for f in families:
        steep &= ~f.members
    index = np.nonzero(steep)[0]
    found = [f for f in vanishing_points(seg[index], rng, count=1) if f.vertical]
    if not found:
        return []
    members = np.zeros(len(seg), bool)
    members[index[found[0].members]] = True
    return [replace(found[0], members=members)]


def _level_pairs(level: list[_Family]) -> list[tuple[float, np.ndarray, _Family, _Family]]:
    """Pairs of level families whose horizon (the line through their vanishing points, (3,) work px,
    (a, b) a unit vector) is at most ``MAX_ROLL_DEG`` from level: (summed length px, line, a, b), the
    longest first."""
    pairs = []
    for i, a in enumerate(level):
        for b in level[i + 1:]:
            line = np.cross(a.point, b.point)
            if np.linalg.norm(line[:2]) < 1e-12:
                continue
            line = line / np.linalg.norm(line[:2])
            if abs(line[0]) <= math.sin(math.radians(MAX_ROLL_DEG)):
                pairs.append((a.length + b.length, line, a, b))
    return sorted(pairs, key=lambda pair: -pair[0])


class HorizonSampler:
    """Keeps a few frames spread evenly over a clip of unknown length for :func:`find_horizon`:
    every ``stride``-th frame, scaled to at most ``WORK_PX`` wide, with its people mask; when
    twice ``count`` are kept, every other one is dropped and the stride doubles."""

    def __init__(self, count: int = 9) -> None:
        self.count = count
        self.stride = 1
        self._seen = 0
        self._frames: list[np.ndarray] = []
        self._masks: list[np.ndarray] = []

    def wants(self) -> bool:
        """Whether the next frame is kept (call :meth:`add` for every frame either way)."""
        return self._seen % self.stride == 0

    def add(self, image: np.ndarray, people: np.ndarray | None = None) -> None:
        """One frame (H, W, 3) uint8 and its (H, W) bool people mask (only used when :meth:`wants`)."""
        if self.wants():
            h, w = image.shape[:2]
            scale, size = _work_size(w, h)
            mask = np.zeros((h, w), bool) if people is None else people
            self._frames.append(image.copy() if scale == 1.0 else
                                cv2.resize(image, size, interpolation=cv2.INTER_AREA))
            self._masks.append(mask.copy() if scale == 1.0 else
                               cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0)
            if len(self._frames) >= 2 * self.count:
                self._frames, self._masks = self._frames[::2], self._masks[::2]
                self.stride *= 2
        self._seen += 1

    def horizon(self, width: int) -> Horizon | None:
        """The horizon (source pixels of frames ``width`` px wide) of the kept frames, or None."""
        if not self._frames:
            return None
        pick = np.unique(np.linspace(0, len(self._frames) - 1, self.count).round().astype(int))
        return find_horizon([self._frames[i] for i in pick], [self._masks[i] for i in pick],
                            source_width=width)
