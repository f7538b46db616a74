"""Hands without a body: palm detector + hand landmark network, at most two hands tracked.

Per frame each tracked hand runs the landmark network on the region its previous landmarks give
(:meth:`HandLandmarks.next_roi`); a hand whose presence drops is lost. While fewer than two hands
are tracked the palm detector (:mod:`models.detectors.palm`) searches the whole frame, and each new
palm (not on a hand already tracked) gets the landmark network on the palm's rotated hand region,
refined once by the landmarks' own region. Sides: a new hand takes the side the landmark network's
handedness says (the free side when that one is taken); a tracked hand keeps its side, unless its
handedness, averaged over time, clearly says the other side and that side is free. Two tracks on
one hand (hands together) keep the side that hand's handedness says.

Units: pixels of the full frame (x right, y down); world landmarks in metres, wrist-centred here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

import cv2
import numpy as np

from core.horizon import HorizonSampler
from core.keypoints_file import NUM_HAND
from models.detectors.blazepose import rgb
from models.detectors.hand_landmarks import HandLandmarkModel, HandLandmarks
from models.detectors.palm import PalmDetector
from models.detectors.roi import Roi

if TYPE_CHECKING:
    from core.capture import UserCamera

SIDES = ("left", "right")
SWITCH_AFTER = 3


@dataclass
class HandsOnlyKeypoints:
    """Both hands over T frames (arrays NaN / 0 where a hand was not found).

    Attributes:
        points_2d: side -> (T,21,2) px; world: side -> (T,21,3) metres, wrist-relative, camera-aligned
        axes (x right, y down, z away); presence: side -> (T,) 0..1 (0: not found).
        frame_index: (T,) source frames; fps: frames per second of the kept frames; image_size: (W, H).
        scene_focal: (2,) the focal (px) and its 1-sigma in log focal the scene's lines at right
            angles give (:mod:`core.scene_focal`), zeros where they give none.
    """

    points_2d: dict[str, np.ndarray]
    world: dict[str, np.ndarray]
    presence: dict[str, np.ndarray]
    frame_index: np.ndarray
    fps: float
    image_size: tuple[int, int]
    source: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    scene_focal: np.ndarray = field(default_factory=lambda: np.zeros(2))

    @property
    def num_frames(self) -> int:
        return int(len(self.frame_index))

    def found(self, side: str) -> np.ndarray:
        """(T,) bool: frames where the ``side`` hand was found."""
        return self.presence[side] > 0


@dataclass
class _Track:
    hand: HandLandmarks
    right_mean: float  # running mean of the handedness score (0 left .. 1 right)
    against: int = 0  # consecutive frames whose handedness clearly said the other side


def _says_other(side: str, right_score: float) -> bool:
    """True when a handedness score (0 left .. 1 right) clearly says the side other than ``side``."""
    return right_score > 0.8 if side == "left" else right_score < 0.2


def _span(hand: HandLandmarks) -> float:
    return float(np.ptp(hand.points_2d, axis=0).max()) + 1.0


def _same_hand(a: HandLandmarks, b: HandLandmarks) -> bool:
    """True when two landmark sets lie on one hand (mean point distance under a third of a span)."""
    mean = float(np.linalg.norm(a.points_2d - b.points_2d, axis=1).mean())
    return mean < 0.3 * min(_span(a), _span(b))


class HandsOnlyTracker:
    """Finds and tracks at most two hands, frame by frame (see the module docstring).

    Args:
        min_presence: landmark network score (0..1) to accept a hand.
        palm_complexity, hand_complexity: 0 lite or 1 full networks.
        handedness_memory: weight of the past in the running handedness mean (0..1).
    """

    def __init__(self, min_presence: float = 0.5, palm_complexity: int = 1, hand_complexity: int = 1,
                 handedness_memory: float = 0.9, num_threads: int = 1) -> None:
        self.min_presence, self.memory = min_presence, handedness_memory
        self.palms = PalmDetector(palm_complexity, num_threads=num_threads)
        self.landmarks = HandLandmarkModel(hand_complexity, num_threads)
        self.tracks: dict[str, _Track | None] = {side: None for side in SIDES}
        self.timings = {"palm": 0.0, "hands": 0.0}

    def _landmarks(self, image_rgb: np.ndarray, roi) -> HandLandmarks | None:
        start = time.perf_counter()
        hand = self.landmarks.run(image_rgb, roi)
        self.timings["hands"] += time.perf_counter() - start
        return hand if hand.presence >= self.min_presence else None

    def step(self, image_rgb: np.ndarray) -> dict[str, HandLandmarks | None]:
        """Both hands in one frame ((H,W,3) uint8 RGB): side -> landmarks or None."""
        for side in SIDES:  # follow the tracked hands
            track = self.tracks[side]
            if track is not None:
                hand = self._landmarks(image_rgb, track.hand.next_roi())
                self.tracks[side] = None if hand is None else _Track(
                    hand, self._mean(track.right_mean, hand),
                    track.against + 1 if _says_other(side, hand.right_score) else 0)
        left, right = self.tracks["left"], self.tracks["right"]
        if left is not None and right is not None and _same_hand(left.hand, right.hand):
            # one hand: it is the side its handedness says now (each track's past is its own side's)
            now = 0.5 * (left.hand.right_score + right.hand.right_score)
            drop = "left" if now >= 0.5 else "right"
            self.tracks[drop] = None
        if any(track is None for track in self.tracks.values()):
            self._search(image_rgb)
        self._settle_sides()
        return {side: (track.hand if track is not None else None) for side, track in self.tracks.items()}

    def _mean(self, previous: float, hand: HandLandmarks) -> float:
        return self.memory * previous + (1.0 - self.memory) * float(hand.right_score)

    def _search(self, image_rgb: np.ndarray) -> None:
        """Palm detection over the whole frame; new hands fill the free sides."""
        start = time.perf_counter()
        palms = self.palms.detect(image_rgb)
        tracked = [t.hand for t in self.tracks.values() if t is not None]
        if len(tracked) == 1:  # the other hand is often next to it: look closer there, that hand painted out
            roi = tracked[0].next_roi()
            masked = image_rgb.copy()
            hull = cv2.convexHull(np.round(tracked[0].points_2d).astype(np.int32))
            cv2.fillConvexPoly(masked, hull, (127, 127, 127))
            palms += self.palms.detect(masked, Roi(roi.cx, roi.cy, 2.0 * roi.size))
        self.timings["palm"] += time.perf_counter() - start
        free = [side for side in SIDES if self.tracks[side] is None]
        known = [t.hand for t in self.tracks.values() if t is not None]
        new: list[HandLandmarks] = []
        for palm in palms:
            if len(new) == len(free):
                break
            if any(_inside(palm.keypoints[0], hand) for hand in known + new):
                continue
            hand = self._landmarks(image_rgb, palm.roi())
            if hand is None:
                continue
            refined = self._landmarks(image_rgb, hand.next_roi())
            hand = refined if refined is not None else hand
            if not any(_same_hand(hand, other) for other in known + new):
                new.append(hand)
        if len(new) == 2:  # both sides free: the more right-handed one is the right hand
            new.sort(key=lambda h: h.right_score)
            self.tracks["left"], self.tracks["right"] = (_Track(h, float(h.right_score)) for h in new)
        elif new:
            hand = new[0]
            said = "right" if hand.right_score >= 0.5 else "left"
            # sure of the side already taken: most likely that hand again, seen through the other's fingers
            if said in free or abs(hand.right_score - 0.5) < 0.3:
                self.tracks[said if said in free else free[0]] = _Track(hand, float(hand.right_score))

    def _settle_sides(self) -> None:
        """A lone hand whose running handedness, or the last ``SWITCH_AFTER`` frames' handedness, clearly
        says the other side moves there (a track that slid onto the other hand where the hands cross);
        two hands whose running handedness both say the other side swap."""
        left, right = self.tracks["left"], self.tracks["right"]
        if left is not None and right is not None:
            if left.right_mean > 0.65 and right.right_mean < 0.35:
                self.tracks["left"], self.tracks["right"] = right, left
            return
        for side, other in (("left", "right"), ("right", "left")):
            track = self.tracks[side]
            if track is None or self.tracks[other] is not None:
                continue
            if _says_other(side, track.right_mean) or track.against >= SWITCH_AFTER:
                self.tracks[other], self.tracks[side] = _Track(track.hand, track.right_mean), None


def _inside(point: np.ndarray, hand: HandLandmarks) -> bool:
    """True when ``point`` (2,) px lies within the box of ``hand``'s landmarks."""
    lo, hi = hand.points_2d.min(axis=0), hand.points_2d.max(axis=0)
    return bool(np.all(point >= lo) and np.all(point <= hi))


def track_hands(frames: Iterable, fps: float, image_size: tuple[int, int], progress=None,
                total: int | None = None, source: str = "",
                tracker: HandsOnlyTracker | None = None) -> HandsOnlyKeypoints:
    """Run :class:`HandsOnlyTracker` over ``frames`` (objects with ``index`` and ``image`` (H,W,3) uint8
    BGR, as :class:`core.footage.Frame`); stage ``detect`` on ``progress`` when given. A few frames
    spread over the clip, with the hands masked, give the scene's lines for the focal."""
    tracker = tracker or HandsOnlyTracker()
    scene = HorizonSampler()
    if progress is not None:
        progress.stage("detect", total)
    points = {side: [] for side in SIDES}
    world = {side: [] for side in SIDES}
    presence = {side: [] for side in SIDES}
    index: list[int] = []
    for frame in frames:
        hands = tracker.step(rgb(frame.image))
        index.append(int(frame.index))
        scene.add(frame.image, _hands_mask(frame.image.shape, hands) if scene.wants() else None)
        for side in SIDES:
            hand = hands[side]
            if hand is None:
                points[side].append(np.full((NUM_HAND, 2), np.nan))
                world[side].append(np.full((NUM_HAND, 3), np.nan))
                presence[side].append(0.0)
            else:
                points[side].append(hand.points_2d)
                world[side].append(hand.world - hand.world[0])
                presence[side].append(min(max(hand.presence, 1e-3), 1.0))
        if progress is not None:
            found = sum(hands[side] is not None for side in SIDES)
            progress.update(len(index), f"{found} hands")
    t = len(index)
    start = time.perf_counter()
    horizon = scene.horizon(int(image_size[0]))
    timings = {**tracker.timings, "horizon": time.perf_counter() - start}
    return HandsOnlyKeypoints(
        points_2d={s: np.asarray(points[s], np.float64).reshape(t, NUM_HAND, 2) for s in SIDES},
        world={s: np.asarray(world[s], np.float64).reshape(t, NUM_HAND, 3) for s in SIDES},
        presence={s: np.asarray(presence[s], np.float64).reshape(t) for s in SIDES},
        frame_index=np.asarray(index, np.int64), fps=float(fps),
        image_size=(int(image_size[0]), int(image_size[1])),
        source=source, timings=timings,
        scene_focal=np.zeros(2) if horizon is None else np.array([horizon.focal_px, horizon.focal_log_std]))


def _hands_mask(shape: tuple[int, ...], hands: dict[str, HandLandmarks | None]) -> np.ndarray:
    """(H, W) bool: each found hand's landmarks' convex hull, grown by a fifth of the hand's size."""
    mask = np.zeros(shape[:2], bool)
    for hand in hands.values():
        if hand is None:
            continue
        one = np.zeros(shape[:2], np.uint8)
        cv2.fillConvexPoly(one, cv2.convexHull(np.round(hand.points_2d).astype(np.int32)), 1)
        grow = max(3, int(0.2 * float(np.ptp(hand.points_2d, axis=0).max())))
        mask |= cv2.dilate(one, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
    return mask


def load_hand_models(mano_dir: str, device: str = "cpu") -> dict:
    """Both MANO sides from ``mano_dir`` (ModelFileError, exit 3, when a file is missing or unreadable)."""
    from models.body import load_hand_model

    return {side: load_hand_model(mano_dir, side, device=device) for side in SIDES}


def capture_hands(source: str, models: dict, progress, camera: UserCamera | None = None,
                  smoothing: float = 1.0, start: int = 0, end: int | None = None,
                  stride: int = 1, mirror: bool = False
                  ) -> tuple[dict[str, np.ndarray], HandsOnlyKeypoints, dict[str, float]]:
    """Footage -> hands -> MANO fit per hand -> ``subject = hands`` motion arrays (docs/formats.md).

    Stages on ``progress``: ``detect`` (frames), ``fit`` (hands). ``camera``: the user's lens (None:
    the footage's lens metadata if it has any, else the prior focal of the body path, a 50 degree
    horizontal field of view, either joined by the focal the scene's lines at right angles give
    where it agrees: hands carry no perspective of their own). Both hands share the shape
    fitted on the hand seen longer. ``mirror``: the footage is a mirror image, flipped back before
    the hands are found (so each hand gets its true side). Returns (motion arrays, hands found,
    seconds per stage).

    Raises InputError: no frames, or no hand in any frame.
    """
    from core.capture import metadata_lens, scene_lens
    from core.errors import InputError
    from core.fit.focal import estimate_focal, user_focal
    from core.lens_metadata import footage_focal_35mm
    from core.fit.mano import fit_hand
    from core.footage import open_footage
    from core.motion import CameraParams, HandParams, hand_motion

    seconds: dict[str, float] = {}
    start_s = time.perf_counter()
    with open_footage(source, start=start, end=end, stride=stride, mirror=mirror) as footage:
        info = footage.info
        progress.info(f"{footage.summary} (hands only)")
        found = track_hands(footage, info.fps / stride, (info.width, info.height), progress,
                            getattr(footage, "planned_count", None), source=str(source))
        for warning in footage.warnings:
            progress.info(warning)
    seconds["detect"] = time.perf_counter() - start_s
    if found.num_frames == 0:
        raise InputError(f"{source}: no frames to fit")
    sides = [side for side in SIDES if found.found(side).any()]
    if not sides:
        raise InputError(f"{source}: no hands were found (hands-only capture needs a hand in view)")
    width, height = found.image_size
    focal = None if camera is None else user_focal(float(width), camera.focal_mm, camera.sensor_mm,
                                                   camera.fov_deg)
    if focal is None:
        # the footage's lens metadata or the prior, with the scene's lines where they agree
        scene = scene_lens(found.scene_focal, progress)
        focal = estimate_focal([], found.image_size,
                               lens=metadata_lens(footage_focal_35mm(source), found.image_size, progress),
                               scene=scene)
        if scene is not None and not focal.scene:
            progress.info("the scene's lines are not used for the focal: they disagree with the prior")
    center = np.array([width / 2.0, height / 2.0])
    start_s = time.perf_counter()
    progress.stage("fit", len(sides))
    sides.sort(key=lambda side: -int(found.found(side).sum()))  # the longer-seen hand sets the shape
    hands, betas = [], None
    for i, side in enumerate(sides):
        fit = fit_hand(models[side], found.points_2d[side], found.world[side], found.presence[side],
                       focal.focal_px, center, smoothing=smoothing, betas=betas)
        betas = fit.betas
        hands.append(HandParams(track_id=SIDES.index(side), side=side, betas=fit.betas,
                                global_orient=fit.global_orient, hand_pose=fit.hand_pose, transl=fit.transl,
                                valid=fit.valid, confidence=found.presence[side]))
        progress.update(i + 1, f"{side} hand: {int(fit.valid.sum())} frames, {fit.residual_px:.1f} px")
    hands.sort(key=lambda hand: hand.track_id)
    seconds["fit"] = time.perf_counter() - start_s
    camera = CameraParams(focal_px=(focal.focal_px, focal.focal_px),
                          center_px=(float(center[0]), float(center[1])),
                          focal_std_px=focal.std_px, focal_source=focal.source)
    arrays = hand_motion(hands, models, fps=found.fps, image_size=found.image_size,
                         frame_index=found.frame_index, camera=camera, source=str(source),
                         extras={"footage_mirrored": np.asarray(bool(mirror))})
    return arrays, found, seconds


__all__ = ["HandsOnlyKeypoints", "HandsOnlyTracker", "capture_hands", "load_hand_models", "track_hands"]
