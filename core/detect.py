"""Finding people: several detection cues, confirmed by the pose landmark network,
then carried from frame to frame by region tracking.

Cues (none finds everyone; each is cheap enough to run now and then, not every frame):

* ``blazepose``: the multi-person BlazePose detector on the whole frame and on tiles
  (finds people whose face shows, at close and medium range);
* ``face``: full-range face detection (a face implies a body below it);
* ``hog``: OpenCV's HOG pedestrian detector (upright whole people, also from behind; skipped
  with a note on an OpenCV without it, such as 5.x);
* ``motion``: blobs moving against a static background (MOG2 background model).

A candidate becomes a person only if the landmark network, run on the region the cue
suggests and then on the region its own landmarks give, finds a stable, upright body
with enough confident landmarks. Once found, a person is kept by region tracking: the next
frame's region is derived from this frame's landmarks (this needs no face and works from
behind), and :class:`core.track.Tracker` keeps identities. Where people overlap, the
landmark network sees a copy of the frame with the other people's clothes painted grey
(:func:`colour_mask`, from each track's colour histogram), so it does not blend two people
into one; a lost person is looked for on a copy where the people already seen are erased
(:func:`people_mask`, :func:`erase`). Detection runs on a schedule
(a full sweep of every cue over every region spread over ``detect_interval_s``; the whole sweep
on the first frame), never while ``max_people`` are tracked and none is lost. A frame's hands
and face run on a background thread while the next frame is decoded and tracked
(:meth:`KeypointPipeline.submit`; their per-person state is only touched by one frame at a time).
A few frames spread over the clip, with the people masked, give the scene's horizon
(:mod:`core.horizon`) for the focal estimate.

Public API: :class:`DetectOptions`, :class:`BoxPrompt`, :func:`detect_keypoints`, and the
per-stage objects :class:`CueDetector`, :class:`PersonConfirmer`, :class:`KeypointPipeline`
(with ``timings``: seconds per stage) for benchmarks.
"""

from __future__ import annotations

import math
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from core.errors import InputError
from core.horizon import HorizonSampler
from core.keypoints_file import Keypoints, PersonKeypoints
from core.landmarks import LandmarkRunner, PersonFrame
from core.lens_metadata import footage_focal_35mm
from core.track import Observation, Tracker, appearance, crowded, hs_table
from models.detectors.pose_landmarks import BodyLandmarks, PoseLandmarkModel
from models.detectors.roi import Roi

if TYPE_CHECKING:
    from core.footage import Footage, Frame
    from core.progress import Progress

CUES = ("blazepose", "face", "hog", "motion")


@dataclass(frozen=True)
class BoxPrompt:
    """A person the user points at: box x0,y0,x1,y1 px on source frame ``frame``."""

    x0: float
    y0: float
    x1: float
    y1: float
    frame: int = 0

    @property
    def box(self) -> np.ndarray:
        return np.array([self.x0, self.y0, self.x1, self.y1], dtype=np.float64)

    @classmethod
    def parse(cls, text: str) -> "BoxPrompt":
        """``X0,Y0,X1,Y1@FRAME`` (``@FRAME`` optional, default 0) -> BoxPrompt; InputError if malformed."""
        match = re.fullmatch(r"\s*([^@]+?)\s*(?:@\s*(\d+))?\s*", text)
        parts = match.group(1).split(",") if match else []
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise InputError(f"--person {text!r}: expected X0,Y0,X1,Y1@FRAME (pixels, frame number), "
                             "e.g. 420,40,640,480@0")
        x0, y0, x1, y1 = values
        if x1 <= x0 or y1 <= y0:
            raise InputError(f"--person {text!r}: the box is empty (need X1 > X0 and Y1 > Y0)")
        return cls(x0, y0, x1, y1, int(match.group(2) or 0))


@dataclass
class DetectOptions:
    """How people are found and followed.

    Attributes:
        max_people: at most this many tracked people (None: any number).
        prompts: boxes around people the detectors miss (tracking continues from them).
        drop_ids: track ids left out of the result (false people; ids are stable between runs
            with the same settings).
        hands, face: run the hand and face-mesh models.
        detect_interval_s: seconds over which one full detection sweep is spread.
        idle_detect_interval_s: the same while everyone tracked is seen and nothing else moves
            (motion cue: no moving person-sized blob outside the tracked people); a person
            standing still who was missed is then looked for this often.
        lost_seconds: a track survives this long without being seen (occlusions; at least 1 s).
        cues: detection cues to use (subset of CUES).
        min_person_px: smallest person height (px) the detector tiles aim for.
        max_candidates: at most this many unexplained candidates confirmed on the first frame
            (half as many on later frames, where the search is spread out).
        max_jobs_per_frame: detection jobs (one cue on one region, about one network run) per
            frame on average, so big frames sweep more slowly instead of slowing every frame.
        hand_complexity: 0 lite (default: about half the time of full, measured) or 1 full hand model.
        num_threads: threads per TFLite network (body landmarks and detectors).
        lost_sweep_speedup: the sweep runs this many times faster while someone is lost.
        refind_every_frame: a lost person is looked for at their predicted region on every
            frame for this many frames, then on every other frame.
        landmark_workers: threads running the hand and face networks (one job per hand and
            face, each thread with its own single-threaded networks). Default 2: on the 2-core
            machine, measured interleaved against 1 worker at load 1.5, end to end 1.07x
            (1 person 640x480) and 1.14x (3 people 1280x720); about even at load 5.
    """

    max_people: int | None = None
    prompts: list[BoxPrompt] = field(default_factory=list)
    drop_ids: list[int] = field(default_factory=list)
    hands: bool = True
    face: bool = True
    detect_interval_s: float = 2.0
    idle_detect_interval_s: float = 6.0
    lost_seconds: float = 2.0
    cues: tuple[str, ...] = CUES
    min_person_px: float = 150.0
    max_candidates: int = 6
    max_jobs_per_frame: float = 0.5
    hand_complexity: int = 0
    num_threads: int = 2
    landmark_workers: int = 2
    refind_every_frame: int = 6
    lost_sweep_speedup: float = 2.0

    def check(self) -> None:
        """InputError for settings that make no sense."""
        if self.max_people is not None and self.max_people < 1:
            raise InputError(f"--max-people must be 1 or more, got {self.max_people}")
        unknown = set(self.cues) - set(CUES)
        if unknown:
            raise InputError(f"unknown detection cue(s) {sorted(unknown)}; known: {list(CUES)}")
        if self.lost_seconds < 0 or self.detect_interval_s <= 0 or self.idle_detect_interval_s <= 0:
            raise InputError("lost_seconds must be >= 0 and detect_interval_s, idle_detect_interval_s > 0")


@dataclass
class Candidate:
    """Where a cue thinks a person may be: the region to try, a score 0..1 and the cue name.
    ``anchor`` (2,) px is a point on the person (face, shoulders or box centre)."""

    roi: Roi
    score: float
    source: str
    anchor: np.ndarray


class MotionCue:
    """Foreground blobs against a static background (OpenCV MOG2 on a small grey copy).

    After ``warmup`` frames the background model is updated on every ``stride``-th frame only
    (a blob is then at most ``stride - 1`` frames old: people move a few pixels in that time,
    and the cue only says where to look); blobs are found once per update.
    """

    def __init__(self, width: int = 320, warmup: int = 10, stride: int = 2) -> None:
        self.width = width
        self.warmup = warmup
        self.stride = max(1, stride)
        self._model = cv2.createBackgroundSubtractorMOG2(history=300, varThreshold=25, detectShadows=False)
        self._seen = 0
        self._offered = 0
        self._mask: np.ndarray | None = None
        self._factor = 1.0
        self._boxes: dict[float, list[tuple[float, np.ndarray]]] = {}

    def observe(self, image_bgr: np.ndarray) -> None:
        """Feed one frame (cheap; call every frame so the background model stays current)."""
        self._offered += 1
        if not self.warming_up and self._offered % self.stride:
            return
        h, w = image_bgr.shape[:2]
        self._factor = min(1.0, self.width / float(w))
        small = cv2.resize(image_bgr, (max(1, int(w * self._factor)), max(1, int(h * self._factor))),
                           interpolation=cv2.INTER_AREA)
        self._mask = self._model.apply(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
        self._seen += 1
        self._boxes = {}

    @property
    def warming_up(self) -> bool:
        """True until the background model has seen enough frames to be trusted."""
        return self._mask is None or self._seen < self.warmup

    def boxes(self, min_height_px: float) -> list[tuple[float, np.ndarray]]:
        """(fraction of the box that moves, box (4,) full-frame px) for person-sized moving blobs."""
        if self.warming_up:
            return []
        if min_height_px not in self._boxes:
            self._boxes[min_height_px] = self._find_boxes(min_height_px)
        return self._boxes[min_height_px]

    def _find_boxes(self, min_height_px: float) -> list[tuple[float, np.ndarray]]:
        mask = cv2.morphologyEx(self._mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        mask = cv2.dilate(mask, np.ones((5, 5), np.uint8), iterations=2)
        count, _labels, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8))
        out = []
        for x, y, w, h, area in stats[1:count]:
            if h < 0.5 * min_height_px * self._factor or h < 0.8 * w:
                continue
            box = np.array([x, y, x + w, y + h], dtype=np.float64) / self._factor
            out.append((float(area) / float(w * h), box))
        return sorted(out, key=lambda item: -(item[1][3] - item[1][1]))


def search_regions(width: int, height: int, min_person_px: float = 150.0,
                   max_finer_levels: int = 2) -> list[list[Roi]]:
    """Regions the detectors search, coarse to fine: [[whole frame], [squares of the short side],
    [finer tiles]...]; tiles shrink by 1.5 (at most ``max_finer_levels`` times, so huge frames stay
    bounded) while a ``min_person_px`` person still spans half a tile and the tile is at least the
    detector's 224 px input."""
    from models.detectors.blazepose import tiles, whole_frame

    levels = [[whole_frame(width, height)]]
    side = float(min(width, height))
    if max(width, height) > side * 1.2:
        levels.append(tiles(width, height, side))
    finer = 0
    while finer < max_finer_levels and side / 1.5 >= max(224.0, 2.0 * min_person_px):
        side /= 1.5
        finer += 1
        levels.append(tiles(width, height, side))
    return levels


class CueDetector:
    """All detection cues, as a list of small jobs (one cue on one region each).

    ``jobs(width, height)`` lists a full sweep; ``propose(image, jobs)`` runs some of them and
    returns candidate regions, best first. A caller can run a whole sweep at once or spread it
    over frames. ``timings`` holds seconds per cue.
    """

    def __init__(self, cues: tuple[str, ...] = CUES, min_person_px: float = 150.0, num_threads: int = 2) -> None:
        self.cues = tuple(cues)
        self.min_person_px = min_person_px
        self.notes: list[str] = []
        if "hog" in self.cues:
            from models.detectors.hog import hog_available

            if not hog_available():
                self.cues = tuple(c for c in self.cues if c != "hog")
                self.notes.append(f"HOG cue skipped: OpenCV {cv2.__version__} has no HOG people detector")
        self.timings: dict[str, float] = {cue: 0.0 for cue in self.cues}
        self._blazepose = None
        self._faces = {}
        self._hog = None
        self._motion = MotionCue() if "motion" in self.cues else None
        if "blazepose" in self.cues:
            from models.detectors.blazepose import BlazePoseDetector

            self._blazepose = BlazePoseDetector(min_score=0.4, num_threads=num_threads)
        if "face" in self.cues:
            from models.detectors.face import FaceDetector

            self._faces = {"face_full": FaceDetector(min_score=0.5, full_range=True),
                           "face_short": FaceDetector(min_score=0.6, full_range=False)}
        if "hog" in self.cues:
            from models.detectors.hog import HogDetector

            self._hog = HogDetector()

    def jobs(self, width: int, height: int) -> list[tuple[str, Roi | None]]:
        """One full sweep: (job kind, region) pairs; kinds blazepose, face_full, face_short, hog, motion."""
        levels = search_regions(width, height, self.min_person_px)
        out: list[tuple[str, Roi | None]] = []
        for depth, level in enumerate(levels):
            for roi in level:
                if self._blazepose is not None:
                    out.append(("blazepose", roi))
                if self._faces:
                    if depth > 0:
                        out.append(("face_full", roi))
                    if depth == len(levels) - 1 and depth > 0:
                        out.append(("face_short", roi))
        if self._hog is not None:
            out.append(("hog", None))
        if self._motion is not None:
            out.append(("motion", None))
        return out

    def unexplained_motion(self, boxes: list[np.ndarray]) -> bool:
        """True when a person-sized moving blob lies outside all ``boxes`` (x0,y0,x1,y1 px), or
        when there is no motion cue to tell (so callers stay on the safe side)."""
        if self._motion is None or self._motion.warming_up:
            return True
        for _fill, blob in self._motion.boxes(self.min_person_px * 0.5):
            cx, cy = 0.5 * (blob[0] + blob[2]), 0.5 * (blob[1] + blob[3])
            if not any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in boxes):
                return True
        return False

    def observe(self, image_bgr: np.ndarray) -> None:
        """Per-frame bookkeeping (the motion cue's background model)."""
        if self._motion is not None:
            start = time.perf_counter()
            self._motion.observe(image_bgr)
            self.timings["motion"] += time.perf_counter() - start

    def propose(self, image_bgr: np.ndarray, image_rgb: np.ndarray,
                jobs: list[tuple[str, Roi | None]] | None = None) -> list[Candidate]:
        """Candidate regions from ``jobs`` (default: a full sweep); images (H,W,3) uint8 BGR and RGB."""
        h, w = image_bgr.shape[:2]
        out: list[Candidate] = []
        for kind, roi in (self.jobs(w, h) if jobs is None else jobs):
            start = time.perf_counter()
            out += self._run(kind, roi, image_bgr, image_rgb)
            cue = "face" if kind.startswith("face") else kind
            self.timings[cue] += time.perf_counter() - start
        if self._blazepose is not None:
            out = _merge_blazepose(out)
        return sorted(out, key=lambda c: -c.score)

    def _run(self, kind: str, roi: Roi | None, image_bgr: np.ndarray, image_rgb: np.ndarray) -> list[Candidate]:
        out: list[Candidate] = []
        if kind == "blazepose" and self._blazepose is not None and roi is not None:
            for det in self._blazepose.detect(image_rgb, [roi]):
                out.append(Candidate(det.roi(), det.score, "blazepose", det.keypoints[2]))
        elif kind in self._faces:
            for face in self._faces[kind].detect(image_rgb, roi):
                fx0, fy0, fx1, fy1 = face.box
                fw = max(fx1 - fx0, fy1 - fy0)
                centre = np.array([0.5 * (fx0 + fx1), 0.5 * (fy0 + fy1)])
                hip = centre + np.array([0.0, 3.5 * fw])
                out.append(Candidate(Roi(float(hip[0]), float(hip[1]), 10.0 * fw, 0.0), face.score * 0.9,
                                     "face", centre))
        elif kind == "hog" and self._hog is not None:
            for score, box in self._hog.detect(image_bgr):
                centre = 0.5 * (box[:2] + box[2:])
                out.append(Candidate(Roi.from_box(box, 1.15), min(1.0, 0.5 + 0.25 * score) * 0.8, "hog", centre))
        elif kind == "motion" and self._motion is not None:
            for fill, box in self._motion.boxes(self.min_person_px * 0.5)[:4]:
                centre = 0.5 * (box[:2] + box[2:])
                out.append(Candidate(Roi.from_box(box, 1.25), 0.5 * fill, "motion", centre))
        return out

    def close(self) -> None:
        for face in self._faces.values():
            face.close()


def _merge_blazepose(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per person among BlazePose detections from overlapping regions."""
    from models.detectors.roi import box_iou

    kept: list[Candidate] = []
    for cand in sorted(candidates, key=lambda c: -c.score):
        if cand.source == "blazepose" and any(
                k.source == "blazepose" and box_iou(cand.roi.box(), k.roi.box())[0, 0] > 0.6 for k in kept):
            continue
        kept.append(cand)
    return kept


class PersonConfirmer:
    """The pose landmark network as the judge of candidates and the engine of region tracking.

    Args:
        min_presence: the network's person score needed (0..1).
        min_landmarks: confident (>= 0.5) landmarks needed to accept a new person.
        max_tilt: largest body tilt (radians from upright) accepted for a new, unprompted person.
        min_size_px: smallest new (unprompted) person, longer side of the landmark box in px.
    """

    def __init__(self, model: PoseLandmarkModel | None = None, min_presence: float = 0.5,
                 min_landmarks: int = 10, max_tilt: float = 1.2, num_threads: int = 2,
                 min_size_px: float = 48.0) -> None:
        self.model = model or PoseLandmarkModel(num_threads=num_threads)
        self.min_presence = min_presence
        self.min_landmarks = min_landmarks
        self.max_tilt = max_tilt
        self.min_size_px = min_size_px
        self.runs = 0

    def run(self, image_rgb: np.ndarray, roi: Roi) -> BodyLandmarks:
        self.runs += 1
        return self.model.run(image_rgb, roi)

    def confirm(self, image_rgb: np.ndarray, roi: Roi, prompted: bool = False,
                relaxed: bool = False) -> BodyLandmarks | None:
        """A person in ``roi``, or None. Two passes: the candidate region, then the region the
        first pass's landmarks give; the two must agree. Prompts are judged leniently; ``relaxed``
        (re-finding a known person) skips the tilt and agreement checks."""
        from core.track import same_person

        first = self.run(image_rgb, roi)
        if first.presence < (0.2 if prompted else self.min_presence):
            return None
        second = self.run(image_rgb, first.next_roi)
        if prompted:
            return second if second.presence >= 0.2 else first
        if second.presence < self.min_presence or second.confident_count() < self.min_landmarks:
            return None
        if relaxed:
            return second
        box = second.box()
        if max(box[2] - box[0], box[3] - box[1]) < self.min_size_px:
            return None
        if abs(second.next_roi.rotation) > self.max_tilt or not same_person(first, second, 0.15):
            return None
        return second

    def track(self, image_rgb: np.ndarray, roi: Roi) -> BodyLandmarks | None:
        """Region tracking: the person in the predicted region, or None when lost."""
        body = self.run(image_rgb, roi)
        if body.presence < self.min_presence or body.confident_count() < 6:
            return None
        return body


class KeypointPipeline:
    """Frame-by-frame detection, tracking and landmarks; ``result()`` builds the keypoints file.

    Args:
        options: settings.
        width, height: frame size px; fps: frames per second of the processed frames.
        source: input path (recorded in the file).

    ``timings`` holds seconds per stage: ``detect`` (cues + confirmation), ``track`` (region
    tracking with the landmark network + assignment), ``landmarks`` (hands and face, wall
    clock on their background thread, where they overlap the next frame's tracking; ``result()``
    adds ``hands`` and ``face``, summed over the landmark threads).
    """

    def __init__(self, options: DetectOptions, width: int, height: int, fps: float, source: str = "") -> None:
        options.check()
        self.options = options
        self.width, self.height, self.fps, self.source = width, height, fps, source
        self.cues = CueDetector(options.cues, options.min_person_px, options.num_threads)
        self.confirmer = PersonConfirmer(num_threads=options.num_threads)
        self.tracker = Tracker(max_people=options.max_people,
                               max_lost_frames=math.ceil(max(1.0, options.lost_seconds) * fps))
        self.landmarks = LandmarkRunner(hands=options.hands, face=options.face,
                                        hand_complexity=options.hand_complexity,
                                        workers=options.landmark_workers)
        self.timings: dict[str, float] = {"detect": 0.0, "track": 0.0, "landmarks": 0.0}
        self.frames: list[int] = []
        self._rows: list[dict[int, dict[str, np.ndarray]]] = []  # float32 rows, as in the file
        self._jobs = self.cues.jobs(width, height)
        # a sweep takes detect_interval_s, or longer on big frames: at most max_jobs_per_frame
        self._jobs_per_frame = min(len(self._jobs) / max(1.0, options.detect_interval_s * fps),
                                   options.max_jobs_per_frame)
        self._idle_rate = options.detect_interval_s / max(options.idle_detect_interval_s, options.detect_interval_s)
        self._credit = 0.0
        self._cursor = 0
        self._pending_prompts = sorted(options.prompts, key=lambda p: p.frame)
        self.detection_jobs = 0
        self._prompted: set[int] = set()
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="frame-landmarks")
        self._pending: Future[dict[int, PersonFrame]] | None = None
        self.horizon = HorizonSampler()

    def process(self, frame: "Frame") -> dict[int, PersonFrame]:
        """Track ids -> keypoints of the people seen in this frame (:meth:`submit`, then :meth:`wait`)."""
        self.submit(frame)
        row = self.wait()
        assert row is not None
        return row

    def submit(self, frame: "Frame") -> int:
        """Find and track the people in ``frame`` now; their hands and face are found on a
        background thread while the caller decodes and tracks the next frame (so both cores are
        busy). Returns how many people this frame has. The keypoints of a frame come from
        :meth:`wait` (the next ``submit`` and :meth:`result` wait too); a background failure is
        raised there."""
        image_bgr = frame.image
        image_rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        start = time.perf_counter()
        self.cues.observe(image_bgr)
        observations: list[Observation] = []
        crowd = crowded(self.tracker.tracks)
        scratch: np.ndarray | None = None  # one copy per frame to paint on, restored after each use
        # a person lost for a while is looked for on half the frames (both guesses of
        # Track.predicted_roi still alternate: lost % 4 in 1, 2 -> moved, stayed)
        lost = [t for t in self.tracker.lost if t.lost <= self.options.refind_every_frame or t.lost % 4 in (1, 2)]
        for track in self.tracker.active:
            roi = track.predicted_roi()
            hide = None
            if track.id in crowd:  # the others' clothes painted grey (a flat grey, unlike a
                # smudge of the surroundings, does not add to this person's colours)
                others = [t.appearance for t in self.tracker.tracks if t.id != track.id and t.id in crowd]
                hide = colour_mask(image_bgr, roi, track.appearance, others)
            if hide is None:
                body = self.confirmer.track(image_rgb, roi)
            else:
                scratch = image_rgb.copy() if scratch is None else scratch
                hide.paint(scratch)
                body = self.confirmer.track(scratch, roi)
                scratch[hide.window] = image_rgb[hide.window]
            if body is not None:
                observations.append(Observation(body, "track", track.id))
        if lost:
            # re-find missing people on a copy where the people already seen are hidden, so the
            # landmark network cannot settle on them again: their skeletons erased (a grey
            # silhouette is taken for a person), then pixels coloured like the others' clothes
            # more than like the missing person's painted grey (a smudge of the surroundings
            # may take the missing person's colours); both measured on three_people_50mm
            erased = erase(image_rgb, people_mask(image_rgb.shape, [o.body for o in observations]))
            for track in lost:  # the region is only a guess, so it is refined once
                roi = track.predicted_roi()
                others = [t.appearance for t in self.tracker.tracks if t.id != track.id]
                hide = colour_mask(image_bgr, roi, track.appearance, others)
                view = erased
                if hide is not None:
                    view = erased.copy()
                    hide.paint(view)
                body = self.confirmer.confirm(view, roi, relaxed=True)
                if body is not None:
                    observations.append(Observation(body, "track", track.id))
        self.timings["track"] += time.perf_counter() - start

        start = time.perf_counter()
        prompts = [p for p in self._pending_prompts if p.frame <= frame.index]
        self._pending_prompts = [p for p in self._pending_prompts if p.frame > frame.index]
        for prompt in prompts:
            body = self.confirmer.confirm(image_rgb, Roi.from_box(prompt.box, 1.2), prompted=True)
            if body is not None:
                observations.append(Observation(body, "prompt"))
        if self._jobs and not (self.tracker.full() and not self.tracker.lost):
            if not self.frames:  # first frame: the whole sweep, so people are found at once
                jobs = self._jobs
            else:
                # people missing: search faster until they are back; everyone
                # seen and nothing else moving: slower (the cues cost more than the tracking)
                if self.tracker.lost:
                    rate = self.options.lost_sweep_speedup
                elif self.tracker.tracks and not self.cues.unexplained_motion([o.body.box() for o in observations]):
                    rate = self._idle_rate
                else:
                    rate = 1.0
                self._credit += self._jobs_per_frame * rate
                count = int(self._credit)
                self._credit -= count
                jobs = [self._jobs[(self._cursor + k) % len(self._jobs)] for k in range(count)]
                self._cursor = (self._cursor + count) % len(self._jobs)
            if jobs:
                observations += self._detect(image_bgr, image_rgb, observations, jobs)
            self.detection_jobs += len(jobs)
        self.timings["detect"] += time.perf_counter() - start

        start = time.perf_counter()
        for o in observations:
            o.appearance = appearance(image_bgr, o.body)
        matched = self.tracker.update(observations)
        self._prompted.update(t.id for t in self.tracker.tracks if t.source == "prompt")
        self.timings["track"] += time.perf_counter() - start
        self.horizon.add(image_bgr, people_mask(image_bgr.shape, [o.body for o in observations])
                         if self.horizon.wants() else None)

        self.wait()  # the previous frame's hands and face: their per-person state is reused now
        for ended in self.tracker.ended:
            self.landmarks.end(ended)
        self.frames.append(int(frame.index))
        self._pending = self._background.submit(self._landmarks, image_rgb, dict(sorted(matched.items())))
        return len(matched)

    def wait(self) -> dict[int, PersonFrame] | None:
        """Keypoints (track id -> person) of the last submitted frame once its hands and face are
        done; None when every submitted frame is done already."""
        if self._pending is None:
            return None
        pending, self._pending = self._pending, None
        row = pending.result()
        self._rows.append({pid: _compact(person) for pid, person in row.items()})
        return row

    def _landmarks(self, image_rgb: np.ndarray, bodies: dict[int, BodyLandmarks]) -> dict[int, PersonFrame]:
        start = time.perf_counter()
        row = self.landmarks.run_all(image_rgb, bodies)
        self.timings["landmarks"] += time.perf_counter() - start
        return row

    def _detect(self, image_bgr: np.ndarray, image_rgb: np.ndarray, known: list[Observation],
                jobs: list[tuple[str, Roi | None]]) -> list[Observation]:
        """Confirmed people among the cues' candidates that no clear observation explains yet
        (observations of tracks that overlap others may be two people blended: they explain nothing)."""
        unclear = crowded(self.tracker.tracks)
        boxes = [o.body.box() for o in known if o.track_id not in unclear]
        found: list[Observation] = []
        tried = 0
        for cand in self.cues.propose(image_bgr, image_rgb, jobs):
            if any(b[0] <= cand.anchor[0] <= b[2] and b[1] <= cand.anchor[1] <= b[3] for b in boxes):
                continue
            if tried >= (self.options.max_candidates if not self.frames else max(1, self.options.max_candidates // 2)):
                break
            tried += 1
            body = self.confirmer.confirm(image_rgb, cand.roi)
            if body is None:
                continue
            found.append(Observation(body, cand.source))
            boxes.append(body.box())
        return found

    def result(self) -> Keypoints:
        """The keypoints of every track (minus ``drop_ids``), one row per processed frame."""
        self.wait()
        t = len(self.frames)
        seen: dict[int, int] = {}
        for row in self._rows:
            for pid in row:
                seen[pid] = seen.get(pid, 0) + 1
        # a track seen in fewer than 3 frames (of a longer clip) is noise, not a person
        ids = sorted(pid for pid, n in seen.items()
                     if (n >= min(3, t) or pid in self._prompted) and pid not in set(self.options.drop_ids))
        people = []
        for pid in ids:
            person = PersonKeypoints.empty(pid, t)
            for k, row in enumerate(self._rows):
                if pid in row:
                    _fill(person, k, row[pid])
            people.append(person)
        timings = dict(self.timings)
        timings.update(self.landmarks.timings)
        timings.update({f"cue_{name}": value for name, value in self.cues.timings.items()})
        start = time.perf_counter()
        horizon = self.horizon.horizon(self.width)
        timings["horizon"] = time.perf_counter() - start
        return Keypoints(source=self.source, fps=self.fps, image_size=(self.width, self.height),
                         frame_index=np.array(self.frames, dtype=np.int64), people=people,
                         horizon=np.zeros(3) if horizon is None else horizon.line,
                         scene_focal=np.zeros(2) if horizon is None else
                         np.array([horizon.focal_px, horizon.focal_log_std]), timings=timings)

    def close(self) -> None:
        self._background.shutdown(wait=True)
        self.landmarks.close()
        self.cues.close()


# limbs and torso of the pose skeleton (mediapipe indices), painted to hide a person
_SKELETON = ((11, 12), (11, 23), (12, 24), (23, 24), (11, 13), (13, 15), (12, 14), (14, 16),
             (23, 25), (25, 27), (24, 26), (26, 28), (0, 11), (0, 12))


def erase(image_rgb: np.ndarray, mask: np.ndarray, work_px: int = 96) -> np.ndarray:
    """A copy of ``image_rgb`` (H,W,3) with the pixels where ``mask`` (H,W) is set filled in
    from their surroundings (OpenCV inpainting on a copy of the mask's bounding box, shrunk to
    about ``work_px`` on its longer side: cheap, and a blur is all that is needed). A flat fill
    would leave a person-shaped silhouette the landmark network can take for a person; a smudge
    of background is not one."""
    out = image_rgb.copy()
    bx, by, bw, bh = cv2.boundingRect(mask.astype(np.uint8, copy=False))  # (a few times faster than nonzero)
    if bw == 0 or bh == 0:
        return out
    h, w = mask.shape
    pad = 4
    x0, y0 = max(bx - pad, 0), max(by - pad, 0)
    x1, y1 = min(bx + bw + pad, w), min(by + bh + pad, h)
    region, holes = out[y0:y1, x0:x1], mask[y0:y1, x0:x1].astype(np.uint8)
    factor = min(1.0, work_px / float(max(x1 - x0, y1 - y0)))
    size = (max(2, int(round((x1 - x0) * factor))), max(2, int(round((y1 - y0) * factor))))
    small = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    small_holes = cv2.resize(holes, size, interpolation=cv2.INTER_NEAREST)
    filled = cv2.inpaint(small, small_holes, 3, cv2.INPAINT_TELEA)
    filled = cv2.resize(filled, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    region[holes > 0] = filled[holes > 0]
    return out


def people_mask(shape: tuple[int, ...], bodies: list[BodyLandmarks]) -> np.ndarray:
    """(H,W) bool mask of each body in an image of ``shape``: the torso polygon and thick limb
    strokes (an eighth of the body's height), confident landmarks only."""
    mask = np.zeros(shape[:2], np.uint8)
    for body in bodies:
        pts, conf = body.points_2d, body.confidence
        seen = pts[conf >= 0.3] if (conf >= 0.3).sum() >= 2 else pts
        thickness = max(3, int(0.12 * float(np.ptp(seen[:, 1]))))  # limbs are about 1/8 of the height
        torso = [11, 12, 24, 23]
        if (conf[torso] >= 0.3).all():
            cv2.fillConvexPoly(mask, np.round(pts[torso]).astype(np.int32), 1)
        for a, b in _SKELETON:
            if conf[a] >= 0.3 and conf[b] >= 0.3:
                cv2.line(mask, tuple(int(v) for v in np.round(pts[a])), tuple(int(v) for v in np.round(pts[b])),
                         1, thickness)
        if conf[0] >= 0.3:
            cv2.circle(mask, tuple(int(v) for v in np.round(pts[0])), int(thickness * 1.2), 1, -1)
    return mask > 0


@dataclass(frozen=True)
class RegionMask:
    """Pixels to hide in part of an image: ``pixels`` (h,w) bool whose top-left pixel is x0,y0."""

    x0: int
    y0: int
    pixels: np.ndarray

    @property
    def window(self) -> tuple[slice, slice]:
        """Row and column slices of the image the mask covers."""
        h, w = self.pixels.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)

    def paint(self, image_rgb: np.ndarray, grey: int = 127) -> None:
        """Set the masked pixels of ``image_rgb`` (H,W,3) grey, in place."""
        image_rgb[self.window][self.pixels] = grey


def colour_mask(image_bgr: np.ndarray, roi: Roi, own: np.ndarray | None,
                others: list[np.ndarray | None]) -> RegionMask | None:
    """The pixels inside ``roi`` that look like other people's clothes (their
    :func:`core.track.appearance` histograms) much more than like this person's (``own``), small
    holes closed; None without histograms or when no pixel does."""
    others = [h for h in others if h is not None]
    if own is None or not others:
        return None
    x0, y0, x1, y1 = (int(round(v)) for v in roi.box())
    h, w = image_bgr.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    hsv = cv2.cvtColor(image_bgr[y0:y1, x0:x1], cv2.COLOR_BGR2HSV)

    def likelihood(hist: np.ndarray) -> np.ndarray:
        """(h, w) probability of each pixel's hue-saturation bin, 0..1 (back projection writes
        uint8, hence the scale)."""
        table = hs_table(hist)
        return cv2.calcBackProject([hsv], [0, 1], table, [0, 180, 0, 256], scale=255).astype(np.float32) / 255.0

    mine = likelihood(own)
    theirs = np.max([likelihood(other) for other in others], axis=0)
    foreign = ((theirs > 0.05) & (theirs > 4.0 * mine)).astype(np.uint8)
    if not foreign.any():
        return None
    k = max(3, int(0.02 * (y1 - y0)) | 1)  # about a fiftieth of the region: the speckles of shading
    return RegionMask(x0, y0, cv2.morphologyEx(foreign, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8)) > 0)


def _compact(frame: PersonFrame) -> dict[str, np.ndarray]:
    """One person's frame as float32 arrays named like the file's keys (what is unknown is absent)."""
    body = frame.body
    out = {"box": frame.box, "body_2d": body.points_2d, "body_3d": body.world,
           "body_conf": np.clip(body.confidence, 0.0, 1.0)}
    for side in ("left", "right"):
        hand = getattr(frame, f"{side}_hand")
        if hand is not None:
            out.update({f"{side}_hand_2d": hand.points_2d, f"{side}_hand_3d": hand.world,
                        f"{side}_hand_conf": hand.confidence})
    if frame.face is not None:
        out.update({"face_2d": frame.face.points, "face_conf": np.float32(frame.face.confidence)})
    return {key: np.asarray(value, dtype=np.float32) for key, value in out.items()}


def _fill(person: PersonKeypoints, k: int, row: dict[str, np.ndarray]) -> None:
    """Write one frame of one person into row ``k`` of ``person``."""
    person.valid[k] = True
    for key, value in row.items():
        getattr(person, key)[k] = value


def detect_keypoints(footage: "Footage", options: DetectOptions, progress: "Progress") -> Keypoints:
    """Run the whole pipeline over ``footage``; ``timings`` in the result includes ``decode``.

    Frames up to a damaged one are kept (the footage reader stops there and says so in
    ``footage.warnings``, which are passed to ``progress.info``).
    """
    info = footage.info
    fps = float(info.fps) / float(getattr(footage, "stride", 1) or 1)
    mirrored = bool(getattr(footage, "mirror", False))
    if mirrored and options.prompts:  # boxes are drawn on the footage as it is: flip them with it
        options = replace(options, prompts=[replace(p, x0=info.width - p.x1, x1=info.width - p.x0)
                                            for p in options.prompts])
    pipeline = KeypointPipeline(options, info.width, info.height, fps, source=str(info.path))
    total = getattr(footage, "planned_count", None)
    for note in pipeline.cues.notes:
        progress.info(note)
    progress.stage("detect", total)
    decode = 0.0
    try:
        iterator = iter(footage)
        done = 0
        while True:
            start = time.perf_counter()
            frame = next(iterator, None)
            decode += time.perf_counter() - start
            if frame is None:
                break
            people = pipeline.submit(frame)
            done += 1
            progress.update(done, f"{people} people")
        result = pipeline.result()
    finally:
        pipeline.close()
    result.mirrored = mirrored
    result.lens_35mm = footage_focal_35mm(info.path) or 0.0
    result.timings["decode"] = decode
    result.timings["frames"] = float(len(result.frame_index))
    for warning in footage.warnings:
        progress.info(warning)
    return result


__all__ = ["BoxPrompt", "CUES", "Candidate", "CueDetector", "DetectOptions", "KeypointPipeline",
           "PersonConfirmer", "detect_keypoints", "search_regions"]
