"""Whole-body keypoints of one tracked person per frame, from crops.

* Body: the BlazePose landmark network on the person's region
  (:class:`models.detectors.pose_landmarks.PoseLandmarkModel`; region tracking, so it
  works from behind; only the full model, complexity 1, exists offline).
* Hands: the hand landmark network (:mod:`models.detectors.hand_landmarks`) on a rotated
  crop around that side's pose wrist, then tracked from its own landmarks frame to frame
  (video mode as in mediapipe Hands, but the body replaces its palm detector, and no
  mediapipe graph runs per call: under load its threads added latency). Left/right are the person's anatomical hands,
  taken from the body's arm chain (which wrist the crop follows, and which pose wrist the
  found hand's wrist is nearest), never from the classifier alone; the classifier only
  vetoes a hand it is sure belongs to the other side (hands together).
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

import numpy as np

from core.keypoints_file import NUM_FACE, NUM_HAND
from models.detectors.face_landmarks import FaceLandmarkModel
from models.detectors.hand_landmarks import HandLandmarkModel
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
    """Square around one hand predicted from the pose arm, rotated so wrist -> knuckles points
    up (the hand network's upright hand); None when the arm is unseen."""
    wrist_i, pinky_i, index_i, elbow_i = ARM[side]
    if body.confidence[wrist_i] < 0.02:  # visibility is often low for hands in plain view: only skip hopeless ones
        return None
    pts = body.points_2d
    wrist = pts[wrist_i]
    knuckles = 0.5 * (pts[pinky_i] + pts[index_i])
    palm = float(np.linalg.norm(knuckles - wrist))
    forearm = float(np.linalg.norm(pts[elbow_i] - wrist))
    shoulders = float(np.linalg.norm(pts[SHOULDERS[0]] - pts[SHOULDERS[1]]))
    # pose knuckles are rough: when they sit on the wrist, point the hand along the forearm
    tip = knuckles if palm > 0.1 * forearm else wrist + 0.4 * (wrist - pts[elbow_i])
    aligned = Roi.from_alignment(wrist, tip, scale=1.0)
    palm = max(palm, 0.25 * forearm)
    centre = wrist - 1.0 * palm * aligned.axes[1]  # the region's up is -y
    side_px = max(3.0 * palm, 0.8 * forearm, 0.6 * shoulders, 24.0)
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
        # from the body's region is retried only every ``retry_every`` frames
        self._misses: dict[str, int] = {"left": 0, "right": 0, "face": 0}
        self.retry_every = 2

    def _find(self, key: str, run: Any, from_body: Roi | None, near: float) -> Any:
        """Landmarks of part ``key`` from its tracked region when that is still near the body's,
        else from the body's region refined once by the landmarks' own region; None when not
        found. ``run(roi)`` runs the part's network."""
        tracked = self._track[key]
        if from_body is None:
            self._track[key] = None
            return None
        if tracked is None and self._misses[key] % self.retry_every != 0:
            self._misses[key] += 1
            return None
        found = None
        if tracked is not None and np.hypot(tracked.cx - from_body.cx, tracked.cy - from_body.cy) < near:
            found = run(tracked)
        if found is None or found.presence < self.min_presence:
            found = run(from_body)
            if found.presence >= self.min_presence:
                refined = run(found.next_roi())
                found = refined if refined.presence >= self.min_presence else found
        if found.presence < self.min_presence:
            found = None
        self._misses[key] = 0 if found is not None else self._misses[key] + 1
        self._track[key] = found.next_roi() if found is not None else None
        return found

    def hand(self, image_rgb: np.ndarray, body: BodyLandmarks, side: str,
             model: HandLandmarkModel) -> HandResult | None:
        """The hand at the body's ``side`` wrist (before :func:`_assign_sides` checks it)."""
        roi = hand_roi(body, side)
        if roi is not None and not _inside(roi, image_rgb.shape):
            roi = None
        hand = self._find(side, lambda r: model.run(image_rgb, r), roi, near=roi.size if roi else 0.0)
        if hand is None:
            return None
        if (hand.right_score > 0.8) if side == "left" else (hand.right_score < 0.2):
            # the network is sure this is the other hand (hands together: the crop slid onto it)
            self._track[side] = None
            self._misses[side] = 1
            return None
        return HandResult(hand.points_2d, hand.world, np.full(NUM_HAND, min(max(hand.presence, 0.0), 1.0)))

    def face(self, image_rgb: np.ndarray, body: BodyLandmarks, model: FaceLandmarkModel) -> FaceResult | None:
        """Face mesh of this person, or None when the face is not seen."""
        roi = face_roi(body)
        mesh = self._find("face", lambda r: model.run(image_rgb, r), roi, near=0.5 * roi.size if roi else 0.0)
        if mesh is None:
            return None
        return FaceResult(mesh.points[:NUM_FACE], float(body.confidence[list(FACE_POINTS)].mean()))


def _assign_sides(found: dict[str, HandResult | None], body: BodyLandmarks) -> dict[str, HandResult | None]:
    """Keep each hand on the side whose pose wrist it is nearest; drop a hand seen twice or far away."""
    wrists = {side: body.points_2d[ARM[side][0]] for side in ARM}
    shoulders = float(np.linalg.norm(body.points_2d[SHOULDERS[0]] - body.points_2d[SHOULDERS[1]]))
    limit = max(0.8 * shoulders, 24.0)
    out: dict[str, HandResult | None] = {}
    for side, hand in found.items():
        if hand is None:
            out[side] = None
            continue
        other = "right" if side == "left" else "left"
        own = float(np.linalg.norm(hand.points_2d[0] - wrists[side]))
        theirs = float(np.linalg.norm(hand.points_2d[0] - wrists[other]))
        out[side] = hand if own <= limit and own <= theirs else None
    left, right = out.get("left"), out.get("right")
    if left is not None and right is not None:
        span = float(np.ptp(left.points_2d, axis=0).max()) + 1.0
        if np.linalg.norm(left.points_2d[0] - right.points_2d[0]) < 0.15 * span:
            # the same hand found by both crops: keep the side whose wrist is nearer
            dl = np.linalg.norm(left.points_2d[0] - wrists["left"])
            dr = np.linalg.norm(right.points_2d[0] - wrists["right"])
            out["right" if dl <= dr else "left"] = None
    return out


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
                sides = _assign_sides(found[pid], body)
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
