"""Tracking: Hungarian assignment with motion prediction, crossings, occlusions, max people."""

from __future__ import annotations

import numpy as np

from core.track import Observation, Tracker, dedupe, keypoint_distance, same_person
from models.detectors.pose_landmarks import BodyLandmarks
from models.detectors.roi import Roi

# a rough standing body, 33 mediapipe landmarks in units of body height (x right, y down, 0 = feet)
_RNG = np.random.default_rng(1)
_SHAPE = np.column_stack([_RNG.uniform(-0.2, 0.2, 33), -np.linspace(1.0, 0.0, 33)])


def body(cx: float, height: float = 200.0, feet_y: float = 400.0, conf: float = 0.9) -> BodyLandmarks:
    """Synthetic landmarks of a person centred at x=cx px."""
    pts = _SHAPE * height + np.array([cx, feet_y])
    roi = Roi(cx, feet_y - height / 2, height * 1.25)
    return BodyLandmarks(presence=0.99, points_2d=pts, depth=np.zeros(33), world=np.zeros((33, 3)),
                         confidence=np.full(33, conf), roi=roi, next_roi=roi)


def test_keypoint_distance_and_same_person() -> None:
    a, b = body(100.0), body(100.0)
    assert keypoint_distance(a.points_2d, a.confidence, b.points_2d, b.confidence, 200.0) == 0.0
    assert same_person(a, body(105.0))
    assert not same_person(a, body(200.0))


def test_dedupe_keeps_one_observation_per_person() -> None:
    obs = [Observation(body(100.0), "track", 1), Observation(body(102.0), "track", 2),
           Observation(body(300.0), "face")]
    kept = dedupe(obs)
    assert len(kept) == 2


def test_ids_survive_a_crossing_with_one_second_occlusion() -> None:
    """Two people walk towards each other; while they overlap only the front one is seen
    (40 frames at 30 fps), then both again. Ids must not switch."""
    tracker = Tracker(max_lost_frames=60)
    speed = 4.0
    history: dict[int, list[float]] = {}
    for t in range(120):
        xa, xb = 100.0 + speed * t, 580.0 - speed * t  # A walks right, B walks left (front)
        source = "blazepose" if t == 0 else "track"
        obs = [Observation(body(xb, feet_y=420.0), source)]
        if abs(xa - xb) > 80.0:
            obs.append(Observation(body(xa), source))
        for pid, b in tracker.update(obs).items():
            history.setdefault(pid, []).append(float(b.points_2d[:, 0].mean()))
    assert len(history) == 2, history.keys()
    a, b = sorted(history.values(), key=lambda xs: xs[0])  # A started on the left
    assert np.all(np.diff(a) > 0), "track 1 must keep walking right (no id switch)"
    assert np.all(np.diff(b) < 0), "track 2 must keep walking left (no id switch)"
    assert a[-1] > 500 and b[-1] < 150


def test_drifting_regions_never_start_tracks() -> None:
    tracker = Tracker()
    assert tracker.update([Observation(body(100.0), "track", 7)]) == {}
    assert list(tracker.update([Observation(body(100.0), "hog")])) == [1]


def test_tracks_start_and_end() -> None:
    tracker = Tracker(max_lost_frames=5)
    tracker.update([Observation(body(100.0), "blazepose")])
    assert [t.id for t in tracker.tracks] == [1]
    for _ in range(5):
        tracker.update([])
    assert tracker.tracks and tracker.tracks[0].lost == 5
    tracker.update([])
    assert tracker.tracks == [] and tracker.ended == [1]
    tracker.update([Observation(body(400.0), "face")])
    assert [t.id for t in tracker.tracks] == [2]


def test_max_people_limits_new_tracks_and_prompts_exceed_it() -> None:
    tracker = Tracker(max_people=1)
    matched = tracker.update([Observation(body(100.0, conf=0.9), "blazepose"),
                              Observation(body(400.0, conf=0.6), "face")])
    assert list(matched) == [1]
    assert float(matched[1].points_2d[:, 0].mean()) < 200  # the better one
    matched = tracker.update([Observation(body(100.0), "track"), Observation(body(400.0), "prompt")])
    assert sorted(matched) == [1, 2]


def test_full_tracker_gives_a_returning_person_their_lost_id() -> None:
    tracker = Tracker(max_people=1, max_lost_frames=90)
    tracker.update([Observation(body(100.0), "blazepose")])
    for _ in range(30):
        tracker.update([])
    matched = tracker.update([Observation(body(500.0), "hog")])  # far away: outside the gate
    assert list(matched) == [1]


def _histogram(hue_bin: int, value_bin: int) -> np.ndarray:
    """An appearance histogram (the layout of core.track.appearance: 12x3 hue-saturation bins
    then 6 value bins, each half summing to 0.5) with one hue and one value."""
    hist = np.zeros(12 * 3 + 6)
    hist[hue_bin * 3 + 1], hist[36 + value_bin] = 0.5, 0.5
    return hist


def test_crowded_track_takes_an_observation_without_histogram_only_on_its_own_prediction() -> None:
    """Two overlapping people (crowded); an observation whose torso was too unsure for a colour
    histogram goes to the track it lies on, and one lying between both goes to neither."""
    red, blue = _histogram(0, 2), _histogram(7, 2)
    tracker = Tracker()
    tracker.update([Observation(body(100.0), "blazepose", appearance=red),
                    Observation(body(170.0), "blazepose", appearance=blue)])
    ids = {round(float(t.body.points_2d[:, 0].mean()), -1): t.id for t in tracker.tracks}
    first, second = ids[100.0], ids[170.0]
    matched = tracker.update([Observation(body(101.0), "track", first),  # no histogram
                              Observation(body(171.0), "track", second, appearance=blue)])
    assert sorted(matched) == [first, second]
    assert abs(float(matched[first].points_2d[:, 0].mean()) - 101.0) < 1.0
    matched = tracker.update([Observation(body(136.0), "track", first),  # between both: ambiguous
                              Observation(body(172.0), "track", second, appearance=blue)])
    assert list(matched) == [second]
