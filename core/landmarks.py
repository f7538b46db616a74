"""Whole-body keypoints of one tracked person per frame, from crops.

* Body: the BlazePose landmark network on the person's region
  (:class:`models.detectors.pose_landmarks.PoseLandmarkModel`; region tracking, so it
  works from behind; only the full model, complexity 1, exists offline).
* Hands: mediapipe Hands in video mode (``static_image_mode=False``), one instance per
  person and side, on an upright crop around that side's pose wrist. Left/right are the
  person's anatomical hands, taken from the body's arm chain (which wrist the crop follows,
  and which pose wrist the found hand's wrist is nearest), never from the classifier alone.
* Face: mediapipe FaceMesh in video mode, one instance per person, on a crop around the head.

Units: pixels of the full frame (x right, y down); world landmarks in metres.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.keypoints_file import NUM_FACE, NUM_HAND
from models.detectors.pose_landmarks import BodyLandmarks
from models.detectors.roi import Roi, cut

HAND_CROP = 256
FACE_CROP = 256
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


def _smooth_roi(previous: Roi | None, new: Roi, alpha: float = 0.6) -> Roi:
    """Exponential smoothing of an upright crop (keeps the video-mode trackers' input steady)."""
    if previous is None:
        return new
    jump = np.hypot(new.cx - previous.cx, new.cy - previous.cy)
    if jump > 0.5 * previous.size or not 0.67 < new.size / previous.size < 1.5:
        return new
    mix = lambda a, b: alpha * b + (1 - alpha) * a  # noqa: E731
    return Roi(mix(previous.cx, new.cx), mix(previous.cy, new.cy), mix(previous.size, new.size), 0.0)


def hand_roi(body: BodyLandmarks, side: str) -> Roi | None:
    """Upright square around one hand, predicted from the pose arm (None when the arm is unseen)."""
    wrist_i, pinky_i, index_i, elbow_i = ARM[side]
    if body.confidence[wrist_i] < 0.02:  # visibility is often low for hands in plain view: only skip hopeless ones
        return None
    pts = body.points_2d
    wrist = pts[wrist_i]
    knuckles = 0.5 * (pts[pinky_i] + pts[index_i])
    palm = float(np.linalg.norm(knuckles - wrist))
    forearm = float(np.linalg.norm(pts[elbow_i] - wrist))
    shoulders = float(np.linalg.norm(pts[SHOULDERS[0]] - pts[SHOULDERS[1]]))
    centre = wrist + 1.0 * (knuckles - wrist)
    side_px = max(9.0 * palm, 2.2 * forearm, 1.1 * shoulders, 64.0)
    return Roi(float(centre[0]), float(centre[1]), side_px, 0.0)


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
    """Hands and face for one tracked person: mediapipe solutions in video mode, one instance each.

    Args:
        hands: run the hand model.
        face: run the face mesh.
        hand_complexity: 0 (lite) or 1 (full) hand landmark model.
    """

    def __init__(self, hands: bool = True, face: bool = True, hand_complexity: int = 0) -> None:
        import mediapipe as mp

        self._hands: dict[str, Any] = {}
        if hands:
            for side in ("left", "right"):
                self._hands[side] = mp.solutions.hands.Hands(
                    static_image_mode=False, max_num_hands=1, model_complexity=hand_complexity,
                    min_detection_confidence=0.5, min_tracking_confidence=0.5)
        self._face = (mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                                      refine_landmarks=False,
                                                      min_detection_confidence=0.5,
                                                      min_tracking_confidence=0.5)
                      if face else None)
        self._hand_rois: dict[str, Roi | None] = {"left": None, "right": None}
        self._face_roi: Roi | None = None
        # frames since the model last found something; while nothing is found the (costly)
        # palm/face detectors inside the solutions are retried only every ``retry_every`` frames
        self._misses: dict[str, int] = {"left": 0, "right": 0, "face": 0}
        self.retry_every = 3

    def _skip(self, key: str) -> bool:
        misses = self._misses[key]
        return misses > 0 and misses % self.retry_every != 0

    def _note(self, key: str, found: bool) -> None:
        self._misses[key] = 0 if found else self._misses[key] + 1

    def close(self) -> None:
        for solution in list(self._hands.values()) + ([self._face] if self._face is not None else []):
            solution.close()
        self._hands.clear()
        self._face = None

    def hands(self, image_rgb: np.ndarray, body: BodyLandmarks) -> dict[str, HandResult | None]:
        """Left and right hand of this person (anatomical sides from the body's arms)."""
        found: dict[str, HandResult | None] = {"left": None, "right": None}
        for side, solution in self._hands.items():
            roi = hand_roi(body, side)
            if roi is not None and not _inside(roi, image_rgb.shape):
                roi = None
            if roi is None:
                self._hand_rois[side] = None
                continue
            roi = _smooth_roi(self._hand_rois[side], roi)
            self._hand_rois[side] = roi
            if self._skip(side):
                self._misses[side] += 1
                continue
            crop = cut(image_rgb, roi, HAND_CROP)
            result = solution.process(crop)
            self._note(side, bool(result.multi_hand_landmarks))
            if not result.multi_hand_landmarks:
                continue
            lms = result.multi_hand_landmarks[0].landmark
            unit = np.array([[p.x, p.y] for p in lms], dtype=np.float64)
            world = np.array([[p.x, p.y, p.z] for p in result.multi_hand_world_landmarks[0].landmark])
            score = float(result.multi_handedness[0].classification[0].score)
            found[side] = HandResult(roi.to_image(unit), world, np.full(NUM_HAND, min(max(score, 0.0), 1.0)))
        return _assign_sides(found, body)

    def face(self, image_rgb: np.ndarray, body: BodyLandmarks) -> FaceResult | None:
        """Face mesh of this person, or None when the face is not seen."""
        if self._face is None:
            return None
        roi = face_roi(body)
        if roi is None:
            self._face_roi = None
            return None
        roi = _smooth_roi(self._face_roi, roi)
        self._face_roi = roi
        if self._skip("face"):
            self._misses["face"] += 1
            return None
        result = self._face.process(cut(image_rgb, roi, FACE_CROP))
        self._note("face", bool(result.multi_face_landmarks))
        if not result.multi_face_landmarks:
            return None
        lms = result.multi_face_landmarks[0].landmark
        raw = np.array([[p.x, p.y, p.z] for p in lms[:NUM_FACE]], dtype=np.float64)
        points = np.empty((NUM_FACE, 3))
        points[:, :2] = roi.to_image(raw[:, :2])
        points[:, 2] = raw[:, 2] * roi.size
        confidence = float(body.confidence[list(FACE_POINTS)].mean())
        return FaceResult(points, confidence)


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


@dataclass
class LandmarkRunner:
    """Hands and face for every tracked person; one :class:`PersonLandmarker` per track id.

    ``timings`` accumulates seconds per stage (``hands``, ``face``).
    """

    hands: bool = True
    face: bool = True
    hand_complexity: int = 0
    timings: dict[str, float] = field(default_factory=lambda: {"hands": 0.0, "face": 0.0})
    _people: dict[int, PersonLandmarker] = field(default_factory=dict)

    def run(self, image_rgb: np.ndarray, person_id: int, body: BodyLandmarks) -> PersonFrame:
        """Keypoints of person ``person_id`` whose body landmarks are ``body``."""
        frame = PersonFrame(box=body.box(), body=body)
        if not (self.hands or self.face):
            return frame
        person = self._people.get(person_id)
        if person is None:
            person = self._people[person_id] = PersonLandmarker(self.hands, self.face, self.hand_complexity)
        if self.hands:
            start = time.perf_counter()
            hands = person.hands(image_rgb, body)
            frame.left_hand, frame.right_hand = hands["left"], hands["right"]
            self.timings["hands"] += time.perf_counter() - start
        if self.face:
            start = time.perf_counter()
            frame.face = person.face(image_rgb, body)
            self.timings["face"] += time.perf_counter() - start
        return frame

    def end(self, person_id: int) -> None:
        """Free the models of a track that ended."""
        person = self._people.pop(person_id, None)
        if person is not None:
            person.close()

    def close(self) -> None:
        for person_id in list(self._people):
            self.end(person_id)
