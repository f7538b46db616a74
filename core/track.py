"""Identity over time: Hungarian assignment of body observations to tracks.

Besides position, each observation carries an appearance descriptor (colour histogram
of the torso and thighs, :func:`appearance`) so that when two people overlap and a region
lands on the wrong one, the observation still goes to the track that looks like it.

Each frame, every live track predicts where its person is (constant-velocity motion of
the last landmarks and region); the caller runs the landmark network on those predicted
regions (region tracking, which also re-finds people around lost tracks) and on fresh
detections, and hands all results here as :class:`Observation` s. The tracker merges
duplicates (two regions that landed on the same person), assigns observations to tracks
with ``scipy.optimize.linear_sum_assignment`` on a cost of box overlap plus keypoint
distance to the prediction, starts tracks for confirmed newcomers (up to ``max_people``),
and ends tracks lost for longer than ``max_lost_frames`` (so occlusions shorter than that
keep their id). Units: pixels; time in processed frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from models.detectors.pose_landmarks import BodyLandmarks
from models.detectors.roi import Roi, box_iou

INFEASIBLE = 1e6


@dataclass
class Observation:
    """A person found in this frame.

    Attributes:
        body: landmarks (full-frame px).
        source: ``track`` (region tracking of ``track_id``), ``prompt``, or a detector cue name.
        track_id: the track whose predicted region produced it (region tracking), else None.
    """

    body: BodyLandmarks
    source: str
    track_id: int | None = None
    appearance: np.ndarray | None = None

    @property
    def quality(self) -> float:
        return float(self.body.presence * self.body.confidence.mean())


@dataclass
class Track:
    """One person's identity and motion state."""

    id: int
    body: BodyLandmarks
    box: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: int = 1
    lost: int = 0
    source: str = ""
    appearance: np.ndarray | None = None

    def predicted_shift(self, steps: int | None = None) -> np.ndarray:
        """(2,) px the person is expected to have moved since the last match."""
        return self.velocity * float(self.lost + 1 if steps is None else steps)

    def predicted_roi(self) -> Roi:
        """Region for the landmark network this frame. While lost, the guess alternates between
        where the motion says the person went and where they were last seen (people stop),
        slightly grown, upright."""
        roi = self.body.next_roi
        if self.lost == 0:
            dx, dy = self.predicted_shift()
            return Roi(roi.cx + dx, roi.cy + dy, roi.size, roi.rotation)
        dx, dy = self.predicted_shift() if self.lost % 2 == 1 else (0.0, 0.0)
        grow = 1.0 + min(0.02 * self.lost, 0.25)
        return Roi(roi.cx + dx, roi.cy + dy, roi.size * grow, 0.0)

    def predicted_box(self) -> np.ndarray:
        dx, dy = self.predicted_shift()
        return self.box + np.array([dx, dy, dx, dy])

    def predicted_points(self) -> np.ndarray:
        return self.body.points_2d + self.predicted_shift()


# torso and thighs: shoulders, hips, knees (mediapipe indices)
_APPEARANCE_POINTS = (11, 12, 23, 24, 25, 26)
_HUE_BINS, _SAT_BINS, _VAL_BINS = 12, 3, 6


def appearance(image_bgr: np.ndarray, body: BodyLandmarks) -> np.ndarray | None:
    """(H*S + V,) unit-sum colour histogram of the body between shoulders and knees, or None
    when that region is not visible. Hue-saturation for coloured clothes, value for grey ones."""
    conf = body.confidence[list(_APPEARANCE_POINTS)]
    if (conf[:4] < 0.3).any():
        return None
    pts = body.points_2d[list(_APPEARANCE_POINTS)]
    pts = pts[conf >= 0.3]
    centre = pts.mean(axis=0)
    pts = centre + 0.7 * (pts - centre)  # stay inside the body
    h, w = image_bgr.shape[:2]
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    patch = image_bgr[y0:y1, x0:x1]
    if patch.shape[0] * patch.shape[1] > 4096:
        factor = (4096.0 / (patch.shape[0] * patch.shape[1])) ** 0.5
        patch = cv2.resize(patch, (max(3, int(patch.shape[1] * factor)), max(3, int(patch.shape[0] * factor))),
                           interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
    hs = cv2.calcHist([hsv], [0, 1], None, [_HUE_BINS, _SAT_BINS], [0, 180, 0, 256]).ravel()
    v = cv2.calcHist([hsv], [2], None, [_VAL_BINS], [0, 256]).ravel()
    hist = np.concatenate([hs / max(hs.sum(), 1.0), v / max(v.sum(), 1.0)]) * 0.5
    return hist.astype(np.float64)


def hs_table(hist: np.ndarray) -> np.ndarray:
    """(HUE_BINS, SAT_BINS) float32 probability table of the hue-saturation part of an
    :func:`appearance` histogram, for ``cv2.calcBackProject``."""
    hs = np.asarray(hist[:_HUE_BINS * _SAT_BINS], dtype=np.float32).reshape(_HUE_BINS, _SAT_BINS)
    return hs / max(float(hs.sum()), 1e-9)


def appearance_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Hellinger distance 0 (same colours) .. 1 (disjoint); 0.3 when either is unknown."""
    if a is None or b is None:
        return 0.3
    return float(np.sqrt(max(0.0, 1.0 - float(np.sqrt(a * b).sum()))))


def keypoint_distance(points_a: np.ndarray, conf_a: np.ndarray, points_b: np.ndarray,
                      conf_b: np.ndarray, scale: float, min_conf: float = 0.3) -> float:
    """Mean distance of landmarks confident in both sets, divided by ``scale`` (unitless).

    Args: points (33,2) px, conf (33,) 0..1, scale px (e.g. the box's longer side).
    Falls back to the distance of the means when fewer than 3 landmarks are shared.
    """
    both = (conf_a >= min_conf) & (conf_b >= min_conf)
    if both.sum() >= 3:
        d = np.linalg.norm(points_a[both] - points_b[both], axis=1).mean()
    else:
        d = np.linalg.norm(points_a.mean(axis=0) - points_b.mean(axis=0))
    return float(d / max(scale, 1.0))


def box_scale(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1], 1.0))


def same_person(a: BodyLandmarks, b: BodyLandmarks, threshold: float = 0.12) -> bool:
    """True when two landmark sets describe the same person (two regions landed on one body)."""
    box_a, box_b = a.box(), b.box()
    scale = min(box_scale(box_a), box_scale(box_b))
    return keypoint_distance(a.points_2d, a.confidence, b.points_2d, b.confidence, scale) < threshold


class Tracker:
    """Stable person ids from per-frame observations.

    Args:
        max_people: at most this many live tracks (None: no limit). Box prompts may exceed it.
        max_lost_frames: frames a track survives without observation (occlusions up to this keep the id).
        gate: largest assignment cost accepted for a track seen last frame (cost = 1 - IoU + keypoint distance).
        velocity_smoothing: weight of the newest displacement in the velocity estimate.
        appearance_weight: weight of the colour-histogram distance in the cost.
        max_appearance_distance: observations looking more different than this never match a track.
        crowded_appearance_distance: the same, for tracks overlapping another track (crossings),
            where an observation must also look clearly more like the track than like its
            neighbours; crowded tracks keep their velocity and appearance until they are clear.
        crowded_unseen_distance: largest keypoint distance accepted in a crowd for an observation
            without an appearance (it must also lie at least twice as far from the neighbours).
    """

    def __init__(self, max_people: int | None = None, max_lost_frames: int = 60, gate: float = 1.6,
                 velocity_smoothing: float = 0.3, first_id: int = 1, appearance_weight: float = 1.5,
                 max_appearance_distance: float = 0.6, crowded_appearance_distance: float = 0.45,
                 crowded_unseen_distance: float = 0.1) -> None:
        self.max_people = max_people
        self.max_lost_frames = max(1, int(max_lost_frames))
        self.gate = gate
        self.velocity_smoothing = velocity_smoothing
        self.appearance_weight = appearance_weight
        self.max_appearance_distance = max_appearance_distance
        self.crowded_appearance_distance = crowded_appearance_distance
        self.crowded_unseen_distance = crowded_unseen_distance
        self._crowded: set[int] = set()
        self.tracks: list[Track] = []
        self.ended: list[int] = []
        self._next_id = first_id

    # -- queries -------------------------------------------------------------------
    @property
    def active(self) -> list[Track]:
        """Tracks matched in the last update."""
        return [t for t in self.tracks if t.lost == 0]

    @property
    def lost(self) -> list[Track]:
        return [t for t in self.tracks if t.lost > 0]

    def full(self) -> bool:
        return self.max_people is not None and len(self.tracks) >= self.max_people

    # -- update --------------------------------------------------------------------
    def update(self, observations: list[Observation]) -> dict[int, BodyLandmarks]:
        """Assign this frame's observations; returns track id -> landmarks for matched tracks.

        Tracks ending in this update are listed in ``self.ended`` (cleared on each call).
        """
        self.ended = []
        obs = dedupe(observations)
        matches: dict[int, int] = {}  # track index -> observation index
        self._crowded = crowded(self.tracks)
        if self.tracks and obs:
            cost = np.array([[self.cost(track, o) for o in obs] for track in self.tracks])
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < INFEASIBLE:
                    matches[r] = c
        used = set(matches.values())
        if self.max_people is not None and len(self.tracks) >= self.max_people:
            # all expected people exist: a lone observation is most likely a lost one coming back
            free_tracks = [i for i in range(len(self.tracks)) if i not in matches and self.tracks[i].lost > 0]
            free_obs = [j for j in range(len(obs)) if j not in used and obs[j].source != "prompt"
                        and not self._overlaps_matched(obs[j], obs, used)]
            if free_tracks and free_obs:
                cost = np.array([[self._distance(self.tracks[i], obs[j]) for j in free_obs]
                                 for i in free_tracks])
                for r, c in zip(*linear_sum_assignment(cost)):
                    matches[free_tracks[r]] = free_obs[c]
                    used.add(free_obs[c])
        result: dict[int, BodyLandmarks] = {}
        for i, track in enumerate(self.tracks):
            if i in matches:
                self._match(track, obs[matches[i]])
                result[track.id] = track.body
            else:
                track.lost += 1
        survivors = []
        for track in self.tracks:
            if track.lost > self.max_lost_frames:
                self.ended.append(track.id)
            else:
                survivors.append(track)
        self.tracks = survivors
        for j in sorted(set(range(len(obs))) - used, key=lambda k: (obs[k].source != "prompt", -obs[k].quality)):
            o = obs[j]
            if o.source == "track" or self._overlaps_matched(o, obs, used):
                continue  # new people come from confirmed detections or prompts, not from drifting regions
            if o.source != "prompt" and self._near_missing(o, result):
                continue  # most likely a missing person seen ambiguously: wait for a clear view
            if o.source != "prompt" and self.full():
                continue
            track = Track(id=self._next_id, body=o.body, box=o.body.box(), source=o.source,
                          appearance=o.appearance)
            self._next_id += 1
            self.tracks.append(track)
            used.add(j)
            result[track.id] = track.body
        return result

    def cost(self, track: Track, o: Observation) -> float:
        """1 - IoU(predicted box, observed box) + keypoint distance / box size, or INFEASIBLE."""
        box = track.predicted_box()
        iou = float(box_iou(box, o.body.box())[0, 0])
        dist = self._distance(track, o)
        gate = self.gate + 0.05 * track.lost
        look = appearance_distance(track.appearance, o.appearance)
        c = (1.0 - iou) + dist + self.appearance_weight * look
        ok = c <= gate and dist < 0.5 + 0.05 * track.lost and look < self.max_appearance_distance
        if ok and track.id in self._crowded:
            # where people overlap, a region may land on the wrong one or on both at once: the
            # observation must look like this track, clearly more than like its neighbours, and
            # lie nearer to where this track was expected than to where they were
            # (without a histogram of the observation, which happens when its torso is unsure,
            # it must instead lie on this track's prediction and far from the neighbours')
            neighbours = [t for t in self.tracks if t.id != track.id and t.id in self._crowded]
            if o.appearance is None or track.appearance is None:
                ok = (dist < self.crowded_unseen_distance
                      and all(2.0 * dist <= self._distance(t, o) for t in neighbours))
            else:
                ok = (look < self.crowded_appearance_distance
                      and all(look <= appearance_distance(t.appearance, o.appearance) - 0.1 for t in neighbours)
                      and all(dist <= self._distance(t, o) for t in neighbours))
        return c if ok else INFEASIBLE

    def _distance(self, track: Track, o: Observation) -> float:
        return keypoint_distance(track.predicted_points(), track.body.confidence, o.body.points_2d,
                                 o.body.confidence, box_scale(track.box))

    def _match(self, track: Track, o: Observation) -> None:
        new_box = o.body.box()
        clear = track.id not in self._crowded
        if clear:  # in a crowd, motion and looks are unreliable: coast on what was learnt before
            step = (torso_centre(o.body, new_box) - torso_centre(track.body, track.box)) / float(track.lost + 1)
            a = self.velocity_smoothing if track.hits > 1 else 1.0
            track.velocity = a * step + (1.0 - a) * track.velocity
        track.body, track.box = o.body, new_box
        if o.appearance is not None and clear:
            track.appearance = (o.appearance if track.appearance is None
                                else 0.9 * track.appearance + 0.1 * o.appearance)
        track.hits += 1
        track.lost = 0

    def _near_missing(self, o: Observation, matched: dict[int, BodyLandmarks]) -> bool:
        """The observation overlaps where an unmatched (lost or crowded) track is expected."""
        box = o.body.box()
        for track in self.tracks:
            if track.id not in matched and box_iou(box, track.predicted_box())[0, 0] > 0.2:
                return True
        return False

    def _overlaps_matched(self, o: Observation, obs: list[Observation], used: set[int]) -> bool:
        """An unassigned observation lying mostly on a person already matched this frame."""
        box = o.body.box()
        for j in used:
            if box_iou(box, obs[j].body.box())[0, 0] > 0.5 or same_person(o.body, obs[j].body, 0.2):
                return True
        return False


def torso_centre(body: BodyLandmarks, box: np.ndarray) -> np.ndarray:
    """(2,) px: mean of shoulders and hips when seen (steadier than a box that changes shape), else the box centre."""
    idx = [11, 12, 23, 24]
    if (body.confidence[idx] >= 0.3).all():
        return body.points_2d[idx].mean(axis=0)
    return 0.5 * (box[:2] + box[2:])


def crowded(tracks: list[Track], min_iou: float = 0.05) -> set[int]:
    """Ids of tracks whose predicted box overlaps another track's."""
    if len(tracks) < 2:
        return set()
    boxes = np.array([t.predicted_box() for t in tracks])
    iou = box_iou(boxes, boxes)
    np.fill_diagonal(iou, 0.0)
    return {t.id for t, row in zip(tracks, iou) if row.max() > min_iou}


def dedupe(observations: list[Observation]) -> list[Observation]:
    """Drop observations of a person already observed (prompts first, then by quality)."""
    order = sorted(observations, key=lambda o: (o.source != "prompt", -o.quality))
    kept: list[Observation] = []
    for o in order:
        if not any(same_person(o.body, k.body) for k in kept):
            kept.append(o)
    return kept
