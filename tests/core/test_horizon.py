"""The horizon from the scene's level lines (core.horizon), on the rendered samples' footage and
on made-up scenes; its use in the focal estimate is tested in tests/core/fit/test_focal.py."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.footage import open_footage
from core.horizon import (MIN_FAMILY_SEGMENTS, WORK_PX, HorizonSampler, find_horizon, row_at, segments,
                          tiles_instead, vanishing_points)
from core.scene_focal import LinesFit
from tests.core.test_real_footage import SAMPLE_NAMES, SAMPLES, true_horizon_y


def _frames(name: str, count: int = 9) -> list[np.ndarray]:
    with open_footage(SAMPLES / name / "footage.mp4") as footage:
        frames = [f.image for f in footage]
    return [frames[i] for i in np.linspace(0, len(frames) - 1, count).round().astype(int)]


def _truth(name: str) -> dict[str, np.ndarray]:
    with np.load(SAMPLES / name / "ground_truth.npz", allow_pickle=False) as data:
        return {k: data[k] for k in ("camera_focal_px", "camera_center_px", "floor_plane_cam")}


@pytest.mark.parametrize("name", SAMPLE_NAMES or ["(none rendered)"])
def test_each_samples_horizon_is_the_floors(name: str) -> None:
    if not (SAMPLES / name / "ground_truth.npz").exists():
        pytest.skip("no ground-truth samples rendered yet (make samples)")
    truth = _truth(name)
    found = find_horizon(_frames(name))
    assert found is not None
    # measured: 0.2-2.1 px off at 640x480, roll under 0.4 degrees
    assert abs(found.y_at(truth["camera_center_px"][0]) - true_horizon_y(truth)) < 3.0
    assert abs(math.degrees(math.asin(found.line[0]))) < 1.0
    assert found.support >= 2 * 8


def test_bigger_frames_give_the_same_horizon_in_their_own_pixels() -> None:
    name = "closeup_24mm"
    if not (SAMPLES / name / "ground_truth.npz").exists():
        pytest.skip("no ground-truth samples rendered yet (make samples)")
    truth = _truth(name)
    sampler = HorizonSampler(count=9)
    frames = _frames(name, 60)
    for frame in frames:
        big = cv2.resize(frame, None, fx=3, fy=3)            # 1920x1440: worked on at WORK_PX wide
        sampler.add(big, np.zeros(big.shape[:2], bool) if sampler.wants() else None)
    assert 9 <= len(sampler._frames) < 18 and sampler._frames[0].shape[1] == WORK_PX
    found = sampler.horizon(3 * 640)
    assert found is not None
    assert abs(found.y_at(3 * truth["camera_center_px"][0]) / 3 - true_horizon_y(truth)) < 3.0


def test_sampler_keeps_frames_spread_over_a_clip_of_unknown_length() -> None:
    sampler = HorizonSampler(count=4)
    for k in range(100):
        sampler.add(np.full((8, 8, 3), k, np.uint8))
    kept = [int(f[0, 0, 0]) for f in sampler._frames]
    assert 4 <= len(kept) < 8 and kept[0] == 0 and kept[-1] >= 75
    assert len(set(np.diff(kept))) == 1, kept                  # evenly spaced


def test_scene_without_level_lines_has_no_horizon() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (480, 640, 3), np.uint8)
    blurred = cv2.GaussianBlur(noise, (0, 0), 6)
    plain = np.full((480, 640, 3), 128, np.uint8)
    assert find_horizon([plain]) is None
    assert find_horizon([blurred]) is None
    assert find_horizon([]) is None
    # only vertical lines (a fence, a wall's edges): no direction on the ground
    fence = plain.copy()
    for x in range(40, 640, 40):
        cv2.line(fence, (x, 20), (x + 3, 460), (20, 20, 20), 2)
    assert find_horizon([fence]) is None


def _floor(width: int = 640, height: int = 480, focal: float = 500.0, pitch_deg: float = 8.0,
           camera_height: float = 1.5, tile_depth: float = 1.0, yaw_deg: float = 30.0
           ) -> tuple[np.ndarray, float]:
    """A tiled floor (tiles 1 m by ``tile_depth`` m, turned ``yaw_deg``) seen by a pitched camera, and
    its horizon row."""
    image = np.full((height, width, 3), 170, np.uint8)
    p = math.radians(pitch_deg)
    # world: x right, y up, z forward; camera at (0, camera_height, 0) pitched down by p; rows:
    # the camera's x (right), y (down) and z (forward) axes in world coordinates
    r = np.array([[1.0, 0.0, 0.0], [0.0, -math.cos(p), -math.sin(p)], [0.0, -math.sin(p), math.cos(p)]])
    yaw = math.radians(yaw_deg)
    for k in range(-12, 13):
        for axis in (0, 1):
            pts = []
            for s in np.linspace(-12, 12, 200):
                u, v = (k, s) if axis == 0 else (s, k * tile_depth)
                world = np.array([u * math.cos(yaw) - v * math.sin(yaw), 0.0,
                                  u * math.sin(yaw) + v * math.cos(yaw) + 2.0])
                cam = r @ (world - np.array([0.0, camera_height, 0.0]))
                if cam[2] > 0.5:
                    pts.append((focal * cam[0] / cam[2] + width / 2, focal * cam[1] / cam[2] + height / 2))
            if len(pts) < 2:
                continue
            pts = np.array(pts)
            inside = (np.abs(pts[:, 0] - width / 2) < 1.5 * width) & (np.abs(pts[:, 1] - height / 2) < 1.5 * height)
            if inside.sum() > 1:
                line = np.round(pts[inside]).astype(np.int32)
                cv2.polylines(image, [line], False, (40, 40, 40), 2, cv2.LINE_AA)
    return image, height / 2 - focal * math.tan(p)


def _room(focal: float, pitch_deg: float, across: float | None, width: int = 640,
          height: int = 480, posts: bool = True) -> tuple[np.ndarray, float]:
    """A camera 1.5 m up, square to a room (yaw 0), pitched down ``pitch_deg``: floor lines running
    away from it 1 m apart, lines across them 1 m apart at ``across`` degrees (90: level in the
    image, square tiles; None: none), and with ``posts`` the vertical edges of 2.5 m posts standing
    on the floor 4-12 m away."""
    image = np.full((height, width, 3), 170, np.uint8)
    p = math.radians(pitch_deg)
    r = np.array([[1.0, 0.0, 0.0], [0.0, -math.cos(p), -math.sin(p)], [0.0, -math.sin(p), math.cos(p)]])

    def draw(world: np.ndarray, thickness: int = 2) -> None:
        cam = (world - np.array([0.0, 1.5, 0.0])) @ r.T
        cam = cam[cam[:, 2] > 0.5]
        if len(cam) > 1:
            px = focal * cam[:, :2] / cam[:, 2:] + np.array([width / 2, height / 2])
            cv2.polylines(image, [np.round(px).astype(np.int32)], False, (40, 40, 40), thickness, cv2.LINE_AA)

    s = np.linspace(0.5, 40.0, 300)
    for k in range(-8, 9):
        draw(np.c_[np.full_like(s, k + 0.5), np.zeros_like(s), s])
    if across is not None:
        t, a = np.linspace(-20, 20, 300), math.radians(across)
        for depth in range(2, 20):
            draw(np.c_[t * math.sin(a), np.zeros(300), depth + t * math.cos(a)])
    for x in np.linspace(-3.5, 3.5, 8) if posts else []:
        for depth in (4.0, 7.0, 12.0):
            draw(np.array([[x, 0.0, depth], [x, 2.5, depth]]), 3)
    return image, height / 2 - focal * math.tan(p)


@pytest.mark.parametrize("across", [90.0, None])
def test_the_vertical_gives_the_focal_of_a_camera_square_to_the_room(across: float | None) -> None:
    # looking straight along the floor's lines the level families alone give no focal (one is level
    # in the image); the posts' vertical edges are at right angles to the floor whatever the room,
    # so with the lines running away they give it, and the horizon even without lines across
    image, horizon_y = _room(450.0, 10.0, across)
    found = find_horizon([image])
    assert found is not None and abs(found.y_at(320) - horizon_y) < 3.0, (found, horizon_y)
    assert abs(math.log(found.focal_px / 450.0)) < 0.05, found


@pytest.mark.parametrize(("focal", "pitch_deg"), [(450.0, 10.0), (300.0, 14.0), (800.0, 6.0)])
def test_square_tiles_give_the_focal_of_a_camera_square_to_them(focal: float, pitch_deg: float) -> None:
    # no posts: the lines running away and the level ones across give no focal at right angles,
    # but the tiles are square (core.tile_focal)
    image, horizon_y = _room(focal, pitch_deg, 90.0, posts=False)
    found = find_horizon([image])
    assert found is not None and abs(found.y_at(320) - horizon_y) < 3.0, (found, horizon_y)
    assert abs(math.log(found.focal_px / focal)) < 0.05, found
    assert not found.tested


def test_level_lines_not_at_right_angles_give_way_to_the_vertical() -> None:
    # floor lines crossing at 60 degrees: taken at right angles they give a wrong focal, which the
    # posts' vertical edges refuse (three families that do not fit); the vertical with the longer
    # level family still is at right angles, and gives the focal
    image, horizon_y = _room(450.0, 10.0, 60.0)
    found = find_horizon([image])
    assert found is not None and abs(found.y_at(320) - horizon_y) < 3.0, (found, horizon_y)
    assert abs(math.log(found.focal_px / 450.0)) < 0.05, found


def test_tiled_floor_gives_its_horizon_and_people_are_ignored() -> None:
    floor, horizon_y = _floor()
    found = find_horizon([floor])
    assert found is not None and abs(found.y_at(320) - horizon_y) < 3.0
    # lines on a person standing there (a striped shirt) are not used: masked, they change nothing
    shirt = floor.copy()
    cv2.rectangle(shirt, (250, 150), (390, 470), (200, 200, 200), -1)
    for y in range(160, 470, 12):
        cv2.line(shirt, (250, y), (390, y - 30), (0, 0, 0), 3)
    mask = np.zeros(shirt.shape[:2], bool)
    mask[140:480, 240:400] = True
    gray = cv2.cvtColor(shirt, cv2.COLOR_BGR2GRAY)
    assert len(segments(gray, mask)) < len(segments(gray))
    masked = find_horizon([shirt], [mask])
    assert masked is not None and abs(masked.y_at(320) - horizon_y) < 3.0


def test_find_horizon_is_deterministic(tmp_path: Path) -> None:
    floor, _ = _floor(pitch_deg=-5.0)                       # a camera looking up: horizon below the centre
    a, b = find_horizon([floor]), find_horizon([floor])
    assert a is not None and b is not None
    np.testing.assert_array_equal(a.line, b.line)
    assert a.y_at(320) > 240


@pytest.mark.parametrize(("focal", "pitch_deg"), [(500.0, 8.0), (320.0, 12.0), (900.0, 5.0)])
def test_tiled_floor_gives_its_focal(focal: float, pitch_deg: float) -> None:
    # the tiles' two families are at right angles: the focal follows (core.scene_focal)
    floor, _ = _floor(focal=focal, pitch_deg=pitch_deg)
    found = find_horizon([floor])
    assert found is not None and found.focal_px > 0
    error = math.log(found.focal_px / focal)
    assert abs(error) < 0.05, (found.focal_px, focal)
    assert abs(error) < 3 * found.focal_log_std and found.focal_log_std < 0.15


def test_square_tiles_replace_a_less_sure_right_angle_they_agree_with() -> None:
    ra = LinesFit(500.0, 0.15, np.eye(3), 0.5, 0.0)
    assert tiles_instead((520.0, 0.1), None)                   # the right angle says nothing
    assert tiles_instead((520.0, 0.1), ra)                     # surer, and agrees
    assert not tiles_instead((520.0, 0.2), ra)                 # less sure
    assert not tiles_instead((300.0, 0.1), ra)                 # oblong tiles: 1.67x off, 2.8 sigma
    assert not tiles_instead(None, ra)
    # a right angle as loose as 0.3 lets such tiles through (1.6 sigma): the people's perspective
    # (core.fit.focal.SCENE_CHECK_SIGMA) is then the only check
    assert tiles_instead((300.0, 0.1), LinesFit(500.0, 0.3, np.eye(3), 0.5, 0.0))
    # drawn: oblong tiles 1.6 times as deep as wide read as a lens about 1.6x shorter (300 px);
    # the floor's right angle, as sure, keeps its own focal
    floor, _ = _floor(tile_depth=1.6, yaw_deg=10.0)
    found = find_horizon([floor])
    assert found is not None and abs(math.log(found.focal_px / 500.0)) < 0.1, found


@pytest.mark.slow
def test_rendered_posts_give_the_focal_where_the_tiles_cannot() -> None:
    """The calibration clip ``cal_24mm_posts`` (rendered here: ``samples.generate``, ~15 s): a 24 mm
    camera square to the floor's tiles, so the tiles alone give no focal, with posts standing
    behind a walker. Detection (people masked) finds the posts' vertical edges, and the tiles'
    lines with them give the focal. Measured: 431 px for the true 427 (1.0 %), horizon 0.4 px off."""
    import subprocess
    import sys

    from core.detect import DetectOptions, detect_keypoints
    from core.progress import Progress

    repo = Path(__file__).resolve().parents[2]
    folder = repo / ".cache" / "calibration" / "cal_24mm_posts"
    made = subprocess.run([sys.executable, "-m", "samples.generate", "cal_24mm_posts"], cwd=repo,
                          capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-2000:]
    with np.load(folder / "ground_truth.npz") as data:
        truth = {k: data[k] for k in ("camera_focal_px", "camera_center_px", "floor_plane_cam")}
    with open_footage(folder / "footage.mp4") as footage:
        keypoints = detect_keypoints(footage, DetectOptions(hands=False, face=False), Progress("quiet"))
    focal_px, log_std = keypoints.scene_focal
    true_focal = float(truth["camera_focal_px"][0])
    assert abs(math.log(focal_px / true_focal)) < min(0.05, 2 * log_std), (focal_px, log_std, true_focal)
    assert abs(row_at(keypoints.horizon, truth["camera_center_px"][0]) - true_horizon_y(truth)) < 3.0


def test_fine_segments_find_a_real_photos_short_edges(opencv_doc_data: Path) -> None:
    """A real iPhone photo of a street (opencv-doc leuvenA.jpg): the buildings' upright edges are
    short (windows, brickwork), so the long Hough lines find no vertical family and the line
    segment detector's fine segments do (measured: no vertical family from the Hough lines; with
    the fine ones one of 19 segments)."""
    gray = cv2.cvtColor(cv2.imread(str(opencv_doc_data / "leuvenA.jpg")), cv2.COLOR_BGR2GRAY)

    def vertical_family(seg: np.ndarray) -> int:
        families = vanishing_points(seg, np.random.default_rng(0))
        return max((int(f.members.sum()) for f in families if f.vertical), default=0)

    long_only, fine = segments(gray), segments(gray, fine=True)
    assert len(fine) > len(long_only)
    assert vertical_family(long_only) < MIN_FAMILY_SEGMENTS
    assert vertical_family(fine) >= 2 * MIN_FAMILY_SEGMENTS


PETS_FOCAL_PX = (1185.0, 1194.6)
"""opencv-doc's vtest.avi is PETS 2009 (S2 L1) View_001, 768x576: its published calibration (Tsai;
the projection matrix as given in github.com/gustavofuhr/selfcalib_poles, pets_config.m) has these
focals (x, y; principal point (324, 283), 60 px left of the centre) ..."""
PETS_HORIZON = (-53.78, -0.05438)
"""... and the horizon at row ``a + b x`` (px), above the frame."""


def test_real_street_footage_gives_its_calibrated_focal(opencv_doc_data: Path) -> None:
    """A real static camera watching people cross a campus road (opencv-doc vtest.avi, PETS 2009
    View_001): kerbs and a facade in two level directions, a few upright edges. The greedy families
    alone mix them; the three taken together at right angles, with the principal point they fix at
    the centre, give the calibration's focal (measured 1197 px, 0.6 % off) and its horizon."""
    sampler = HorizonSampler()
    with open_footage(opencv_doc_data / "vtest.avi") as footage:
        for frame in footage:
            sampler.add(frame.image)
    found = sampler.horizon(768)
    assert found is not None and found.tested
    assert abs(math.log(found.focal_px / math.sqrt(PETS_FOCAL_PX[0] * PETS_FOCAL_PX[1]))) < 0.05
    for x in (0.0, 768.0):
        assert abs(found.y_at(x) - (PETS_HORIZON[0] + PETS_HORIZON[1] * x)) < 20.0


@pytest.mark.parametrize("name", ["leuvenB.jpg", "pic3.png", "pic4.png", "rubberwhale2.png"])
def test_chance_alignments_are_not_taken_as_three_right_angles(opencv_doc_data: Path, name: str) -> None:
    """Real photos and drawings with no three directions at right angles in view (a cobbled street
    whose facades' lines are broken by clutter, drawn shapes, a toy scene): families of a few
    segments can fit at right angles by chance, but not with the principal point at the centre."""
    found = find_horizon([cv2.imread(str(opencv_doc_data / name))])
    assert found is None or not found.tested
