"""Whole-body keypoints of one tracked person per frame, from crops.

* Body: the BlazePose landmark network on the person's region
  (:class:`models.detectors.pose_landmarks.PoseLandmarkModel`; region tracking, so it
  works from behind; only the full model, complexity 1, exists offline).
* Hands: the hand landmark network (:mod:`models.detectors.hand_landmarks`) on a rotated
  crop around that side's pose wrist, then tracked from its own landmarks frame to frame
  (video mode as in mediapipe Hands, but the body replaces its palm detector, and no
  mediapipe graph runs per call: under load its threads added latency). Left/right are the person's anatomical hands,
  taken from the body's arm chain (which arm's crop found the hand, and which pose wrist the
  found hand's wrist is nearest), never from the network's handedness alone (a weak
  tie-breaker: it errs on fast or half-hidden hands). With the hands together, a hand found
  by both crops is kept once and the other crop looks again with it painted out.
* Face: the face mesh network (:mod:`models.detectors.face_landmarks`) on a crop around the
  head from the body's face landmarks, then tracked from its own mesh (no face detector).

One network instance of each kind (per worker thread) serves every person; per person only
the tracked regions are kept.

Units: pixels of the full frame (x right, y down); world landmarks in metres.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from core.keypoints_file import NUM_FACE, NUM_HAND
from models.detectors.face_landmarks import FaceLandmarkModel
from models.detectors.hand_landmarks import HandLandmarkModel, HandLandmarks
from models.detectors.pose_landmarks import BodyLandmarks
from models.detectors.roi import Roi

# pose landmark indices (mediapipe): wrist, pinky knuckle, index knuckle, elbow, per side
ARM = {"left": (15, 17, 19, 13), "right": (16, 18, 20, 14)}
SHOULDERS = (11, 12)
FACE_POINTS = tuple(range(11))


@dataclass
class HandResult:
    """One hand: (21,2) px, (21,3) metres (hand-centred, camera-aligned axes), (21,) 0..1."""

    points_2d: np.ndarray
    world: np.ndarray
    confidence: np.ndarray


@dataclass
class FaceResult:
    """Face mesh: (468,3) x,y px and z relative depth (px scale); confidence 0..1."""

    points: np.ndarray
    confidence: float


@dataclass
class PersonFrame:
    """Everything known about one person in one frame (shapes as in the keypoints file)."""

    box: np.ndarray
    body: BodyLandmarks
    left_hand: HandResult | None = None
    right_hand: HandResult | None = None
    face: FaceResult | None = None


def hand_roi(body: BodyLandmarks, side: str) -> Roi | None:
    """Square around one hand predicted from the pose arm, rotated so the forearm (elbow ->
    wrist) points up (the hand network's upright hand), its side a tenth of the body's region
    (hands are about 0.06 of it on every sample: 1.6 hand lengths), centred a fifth of that
    beyond the wrist; None when the arm is unseen.

    Measured against the truth of hands_clap_35mm and default (network run on this region
    alone, every other frame): the pose's own knuckle points and limb lengths give wrong
    directions and sizes when the hands are together or turned edge-on, the forearm and the
    body's scale do not (found left/right 0.49/0.93 -> 0.56/0.96 on the clap, 1.00/0.84 ->
    1.00/0.89 on default)."""
    wrist_i, pinky_i, index_i, elbow_i = ARM[side]
    if body.confidence[wrist_i] < 0.02:  # visibility is often low for hands in plain view: only skip hopeless ones
        return None
    pts = body.points_2d
    wrist = pts[wrist_i]
    forearm = wrist - pts[elbow_i]
    if np.linalg.norm(forearm) < 1.0:  # elbow on the wrist (arm towards the camera): the knuckles' way
        forearm = 0.5 * (pts[pinky_i] + pts[index_i]) - wrist
    aligned = Roi.from_alignment(wrist, wrist + forearm, scale=1.0)
    side_px = max(0.1 * body.roi.size, 24.0)
    centre = wrist - 0.2 * side_px * aligned.axes[1]  # the region's up is -y
    return Roi(float(centre[0]), float(centre[1]), side_px, aligned.rotation)


def _inside(roi: Roi, shape: tuple[int, ...]) -> bool:
    """True when the centre of ``roi`` lies in an image of ``shape`` (H,W,...)."""
    return 0.0 <= roi.cx < shape[1] and 0.0 <= roi.cy < shape[0]


def face_roi(body: BodyLandmarks) -> Roi | None:
    """Upright square around the head (None when the face is not towards the camera)."""
    conf = body.confidence
    if conf[0] < 0.5 or conf[[2, 5]].max() < 0.5:  # nose and at least one eye
        return None
    pts = body.points_2d[list(FACE_POINTS)]
    span = float((pts.max(axis=0) - pts.min(axis=0)).max())
    shoulders = float(np.linalg.norm(body.points_2d[SHOULDERS[0]] - body.points_2d[SHOULDERS[1]]))
    centre = pts.mean(axis=0)
    return Roi(float(centre[0]), float(centre[1]), max(2.0 * span, 0.6 * shoulders, 32.0), 0.0)


class PersonLandmarker:
    """The tracked hand and face regions of one person, from frame to frame.

    Each part (``left``, ``right``, ``face``) is found by its own call, so the parts of one
    person may run on different threads (each with its own networks; they share no state).

    Args:
        min_presence: network score (0..1) needed to accept a hand or a face.
    """

    def __init__(self, min_presence: float = 0.5) -> None:
        self.min_presence = min_presence
        self._track: dict[str, Roi | None] = {"left": None, "right": None, "face": None}
        # frames since the model last found something; while nothing is found the search
        # from the body's region is retried on every frame for ``retry_soon`` frames, then
        # every ``retry_every`` frames. Hands: every frame for 8 (a hand lost among the other
        # hand's fingers comes back within a few; hands_clap_35mm: left found 0.62 -> 0.69 of
        # frames, wrong 5 -> 2, hand MPJPE 36.5 -> 35.2 mm against every other frame), then
        # every other frame (three_people_50mm 1280x720: hands found 1.82 -> 1.97 per frame for
        # 5.0 -> 6.3 hand runs; every frame throughout: 2.00 for 7.2). A face turned away:
        # every other frame.
        self._misses: dict[str, int] = {"left": 0, "right": 0, "face": 0}
        self.retry_soon: dict[str, int] = {"left": 8, "right": 8, "face": 0}
        self.retry_every: dict[str, int] = {"left": 2, "right": 2, "face": 2}

    def _find(self, key: str, run: Any, from_body: Roi | None, near: float) -> Any:
        """Landmarks of part ``key`` from its tracked region when that is still near the body's,
        else from the body's region refined once by the landmarks' own region; None when not
        found. ``run(roi)`` runs the part's network. The tracked region is not updated here
        (:meth:`_remember` does, once the part's side is settled)."""
        tracked = self._track[key]
        if from_body is None:
            return None
        misses = self._misses[key]
        if tracked is None and misses > self.retry_soon[key] and misses % self.retry_every[key] != 0:
            return None
        found = None
        if tracked is not None and np.hypot(tracked.cx - from_body.cx, tracked.cy - from_body.cy) < near:
            found = run(tracked)
        if found is None or found.presence < self.min_presence:
            found = run(from_body)
            if found.presence >= self.min_presence:
                refined = run(found.next_roi())
                found = refined if refined.presence >= self.min_presence else found
        return found if found.presence >= self.min_presence else None

    def _remember(self, key: str, found: Any) -> None:
        """Track part ``key`` from ``found`` (landmarks with ``next_roi()``, or None: lost)."""
        self._misses[key] = 0 if found is not None else self._misses[key] + 1
        self._track[key] = found.next_roi() if found is not None else None

    def hand(self, image_rgb: np.ndarray, body: BodyLandmarks, side: str,
             model: HandLandmarkModel) -> HandLandmarks | None:
        """The hand the crop of the body's ``side`` arm finds (its side is settled afterwards
        by :meth:`settle_hands`, for both hands at once)."""
        roi = hand_roi(body, side)
        if roi is not None and not _inside(roi, image_rgb.shape):
            roi = None
        return self._find(side, lambda r: model.run(image_rgb, r), roi, near=1.5 * roi.size if roi else 0.0)

    def settle_hands(self, image_rgb: np.ndarray, found: dict[str, HandLandmarks | None], body: BodyLandmarks,
                     model: HandLandmarkModel) -> dict[str, HandResult | None]:
        """Both hands' sides from the arm chain (:func:`_assign_sides`); each side then tracks
        the hand it kept.

        When one side's crop found the other side's hand (hands together), that hand is painted
        out and the side's crop looked at once more, so the hand underneath can still be found
        (hands_clap_35mm: left hand found 0.57 -> 0.62 of frames, about one extra network run
        in four frames there, none while the hands are apart)."""
        sides = _assign_sides(found, body)
        for side, other in (("left", "right"), ("right", "left")):
            if sides[side] is None and found.get(side) is not None and sides[other] is not None:
                roi = hand_roi(body, side)
                if roi is None:
                    continue
                hull = cv2.convexHull(np.round(sides[other].points_2d).astype(np.int32))
                masked = image_rgb.copy()
                cv2.fillConvexPoly(masked, hull, (127, 127, 127))
                again = self._find(side, lambda r: model.run(masked, r), roi, near=0.0)
                if again is not None:
                    retry = _assign_sides({side: again, other: sides[other]}, body)
                    if retry[other] is sides[other] and retry[side] is again:
                        sides = retry
        out: dict[str, HandResult | None] = {}
        for side in ("left", "right"):
            hand = sides.get(side)
            self._remember(side, hand)
            out[side] = None if hand is None else HandResult(
                hand.points_2d, hand.world, np.full(NUM_HAND, min(max(hand.presence, 0.0), 1.0)))
        return out

    def face(self, image_rgb: np.ndarray, body: BodyLandmarks, model: FaceLandmarkModel) -> FaceResult | None:
        """Face mesh of this person, or None when the face is not seen."""
        roi = face_roi(body)
        mesh = self._find("face", lambda r: model.run(image_rgb, r), roi, near=0.5 * roi.size if roi else 0.0)
        self._remember("face", mesh)
        if mesh is None:
            return None
        return FaceResult(mesh.points[:NUM_FACE], float(body.confidence[list(FACE_POINTS)].mean()))


def _side_cost(hand: Any, side: str, wrists: dict[str, np.ndarray], span: float) -> float:
    """How badly ``hand`` fits the body's ``side`` arm: distance of its wrist from that pose wrist
    in hand spans, plus half the handedness network's doubt (a weak cue: it errs on fast or
    half-hidden hands)."""
    right = float(getattr(hand, "right_score", 0.5))
    doubt = 1.0 - right if side == "right" else right
    return float(np.linalg.norm(hand.points_2d[0] - wrists[side])) / span + 0.5 * doubt


def _assign_sides(found: dict[str, Any], body: BodyLandmarks) -> dict[str, Any]:
    """Each found hand (``points_2d`` (21,2) px, optional ``right_score``) on the side of the arm
    it fits best: a hand far from its arm is dropped, one hand found by both crops is kept once,
    two hands swapped between the crops are swapped back. While the pose wrists are close
    together (hands together) their distances decide nothing, so a hand stays on the side whose
    crop found it unless it fits the other arm clearly better."""
    wrists = {side: body.points_2d[ARM[side][0]] for side in ARM}
    shoulders = float(np.linalg.norm(body.points_2d[SHOULDERS[0]] - body.points_2d[SHOULDERS[1]]))
    limit = max(0.8 * shoulders, 0.15 * body.roi.size, 24.0)  # the body's region: steady when shoulders turn

    def reach(hand: Any, side: str) -> bool:
        return bool(np.linalg.norm(hand.points_2d[0] - wrists[side]) <= limit)

    near = {side: hand for side, hand in found.items()
            if hand is not None and (reach(hand, "left") or reach(hand, "right"))}
    left, right = near.get("left"), near.get("right")
    out: dict[str, Any] = {"left": left, "right": right}
    hands = [h for h in (left, right) if h is not None]
    if not hands:
        return out
    span = max(float(np.ptp(h.points_2d, axis=0).max()) for h in hands) + 1.0
    margin = 0.25
    if left is not None and right is not None:
        if np.linalg.norm(left.points_2d[0] - right.points_2d[0]) < 0.35 * span:
            # one hand found by both crops: it stays on the side it fits better
            keep = "left" if _side_cost(left, "left", wrists, span) <= _side_cost(right, "right", wrists, span) else "right"
            out["right" if keep == "left" else "left"] = None
        else:
            straight = _side_cost(left, "left", wrists, span) + _side_cost(right, "right", wrists, span)
            swapped = _side_cost(left, "right", wrists, span) + _side_cost(right, "left", wrists, span)
            if swapped + margin < straight:
                out = {"left": right, "right": left}
    else:
        side = "left" if left is not None else "right"
        other = "right" if side == "left" else "left"
        hand = hands[0]
        if _side_cost(hand, other, wrists, span) + margin < _side_cost(hand, side, wrists, span):
            out = {side: None, other: hand}
    return {side: hand if hand is not None and reach(hand, side) else None for side, hand in out.items()}


class LandmarkRunner:
    """Hands and face for every tracked person; one :class:`PersonLandmarker` per track id.

    The parts (each hand, the face) of all people run as separate jobs on ``workers`` threads,
    each thread with its own networks (TFLite releases the GIL while a network runs, so two
    threads keep two cores busy).

    ``timings`` accumulates seconds per part kind (``hands``, ``face``), summed over threads.
    """

    def __init__(self, hands: bool = True, face: bool = True, hand_complexity: int = 0,
                 num_threads: int = 1, workers: int = 1) -> None:
        self.hands, self.face = hands, face
        self.hand_complexity, self.num_threads = hand_complexity, num_threads
        self.timings: dict[str, float] = {"hands": 0.0, "face": 0.0}
        self._people: dict[int, PersonLandmarker] = {}
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="landmarks") if workers > 1 else None

    def _models(self) -> tuple[HandLandmarkModel | None, FaceLandmarkModel | None]:
        """This thread's networks (made on first use)."""
        if not hasattr(self._local, "models"):
            self._local.models = (HandLandmarkModel(self.hand_complexity, self.num_threads) if self.hands else None,
                                  FaceLandmarkModel(self.num_threads) if self.face else None)
        return self._local.models

    def _part(self, image_rgb: np.ndarray, person: PersonLandmarker, body: BodyLandmarks,
              part: str) -> tuple[Any, float]:
        start = time.perf_counter()
        hand_model, face_model = self._models()
        if part == "face":
            result = person.face(image_rgb, body, face_model)
        else:
            result = person.hand(image_rgb, body, part, hand_model)
        return result, time.perf_counter() - start

    def run_all(self, image_rgb: np.ndarray, bodies: dict[int, BodyLandmarks]) -> dict[int, PersonFrame]:
        """Keypoints of every person (track id -> body landmarks) in one frame."""
        frames = {pid: PersonFrame(box=body.box(), body=body) for pid, body in bodies.items()}
        parts = (["left", "right"] if self.hands else []) + (["face"] if self.face else [])
        jobs = []
        for pid, body in bodies.items():
            person = self._people.get(pid)
            if person is None:
                person = self._people[pid] = PersonLandmarker()
            jobs += [(pid, part, (image_rgb, person, body, part)) for part in parts]
        if self._pool is not None and len(jobs) > 1:
            futures = [self._pool.submit(self._part, *args) for _pid, _part, args in jobs]
            results = [future.result() for future in futures]
        else:
            results = [self._part(*args) for _pid, _part, args in jobs]
        found: dict[int, dict[str, Any]] = {pid: {"left": None, "right": None} for pid in bodies}
        for (pid, part, _args), (result, seconds) in zip(jobs, results):
            self.timings["face" if part == "face" else "hands"] += seconds
            if part == "face":
                frames[pid].face = result
            else:
                found[pid][part] = result
        if self.hands:
            for pid, body in bodies.items():
                sides = self._people[pid].settle_hands(image_rgb, found[pid], body, self._models()[0])
                frames[pid].left_hand, frames[pid].right_hand = sides["left"], sides["right"]
        return frames

    def run(self, image_rgb: np.ndarray, person_id: int, body: BodyLandmarks) -> PersonFrame:
        """Keypoints of person ``person_id`` whose body landmarks are ``body``."""
        return self.run_all(image_rgb, {person_id: body})[person_id]

    def end(self, person_id: int) -> None:
        """Forget a track that ended."""
        self._people.pop(person_id, None)

    def close(self) -> None:
        self._people.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
