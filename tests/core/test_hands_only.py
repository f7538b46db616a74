"""Hands-only capture on real footage: the hands region of data/samples/hands_clap_35mm cut out
(forearms and hands, no head or shoulders: nothing the body detector could use), scaled 2x."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.footage import open_footage
from core.hands_only import HandsOnlyKeypoints, track_hands
from models.keypoints import hand_targets
from models.skeleton import MANO_JOINT_NAMES, SMPLX_JOINT_NAMES

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "samples" / "hands_clap_35mm"
X0, Y0, SIDE, SCALE = 230, 185, 220, 2  # the crop (source px) and its scale


def true_joints_px() -> np.ndarray:
    """(T,55,2) the true SMPL-X joints in crop px."""
    with np.load(SAMPLE / "ground_truth.npz") as gt:
        joints = gt["p0/joints_cam"]
        uv = joints[..., :2] / joints[..., 2:] * gt["camera_focal_px"] + gt["camera_center_px"]
    return (uv - (X0, Y0)) * SCALE


def hand_truth() -> dict[str, np.ndarray]:
    """side -> (T,16,2) true wrist + finger joints in crop px, ordered like :func:`joint_rows`."""
    uv = true_joints_px()
    return {side: uv[:, joint_rows(side)[1]] for side in ("left", "right")}


def joint_rows(side: str) -> tuple[list[int], list[int]]:
    """(hand landmark indices, SMPL-X joints) of the wrist and the 15 finger joints."""
    targets = [t for t in hand_targets(side) if t.extend_from < 0]
    return [t.landmark for t in targets], [t.joint for t in targets]


def write_hands_clip(folder: Path) -> Path:
    """The hands region of the clap sample as a folder of 440x440 PNG frames (lossless: only the
    sample's own compression). Returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    reader = cv2.VideoCapture(str(SAMPLE / "footage.mp4"))
    index = 0
    while True:
        ok, image = reader.read()
        if not ok:
            break
        crop = image[Y0:Y0 + SIDE, X0:X0 + SIDE]
        big = cv2.resize(crop, (SIDE * SCALE, SIDE * SCALE), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"frame{index:03d}.png"), big)
        index += 1
    reader.release()
    return folder


def write_mano_files(folder: Path) -> Path:
    """Small MANO files of the official format (models.smplx_files.write_mano_pkl). Returns ``folder``."""
    from models.smplx_files import write_mano_pkl

    write_mano_pkl(folder / "MANO_RIGHT.pkl", side="right")
    write_mano_pkl(folder / "MANO_LEFT.pkl", side="left", seed=1)
    return folder


def capture_command(clip: Path, mano: Path, output: Path) -> list[str]:
    """``python -m core`` arguments of a hands-only capture of the clip; the crop's lens: 35 mm on a
    36 mm sensor, of which the crop keeps 220 of 640 px (12.375 mm)."""
    return ["capture", str(clip), "-o", str(output), "--hands-only", "--mano-dir", str(mano),
            "--focal-mm", "35", "--sensor-mm", str(36.0 * SIDE / 640)]


@pytest.fixture(scope="module")
def hands_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hands_clip(tmp_path_factory.mktemp("hands") / "clip")


@pytest.fixture(scope="module")
def tracked(hands_clip: Path) -> HandsOnlyKeypoints:
    with open_footage(hands_clip) as footage:
        return track_hands(footage, footage.info.fps, (footage.info.width, footage.info.height))


def hand_errors(found: HandsOnlyKeypoints, side: str) -> tuple[np.ndarray, np.ndarray]:
    """(T,) mean px distance of the found ``side`` hand from the true ``side`` and the other hand."""
    truth = hand_truth()
    rows = joint_rows(side)[0]
    other = "right" if side == "left" else "left"
    points = found.points_2d[side][:, rows]
    return (np.linalg.norm(points - truth[side], axis=-1).mean(-1),
            np.linalg.norm(points - truth[other], axis=-1).mean(-1))


@pytest.mark.slow
def test_crop_shows_no_body() -> None:
    """The crop holds hands and forearms only: head and shoulders lie outside it."""
    with np.load(SAMPLE / "ground_truth.npz") as gt:
        joints = gt["p0/joints_cam"]
        uv = joints[..., :2] / joints[..., 2:] * gt["camera_focal_px"] + gt["camera_center_px"]
    head_and_shoulders = uv[:, [15, 16, 17]]
    assert (head_and_shoulders[..., 1] < Y0).all()


@pytest.mark.slow
def test_both_hands_found_on_their_sides(tracked: HandsOnlyKeypoints) -> None:
    """Measured: right hand found on 90/90 frames, left on 44/90 (hidden in the interlocked grip of
    the second half; 33/45 in the first), no hand on the wrong side, median error 8 px (crop px)."""
    assert tracked.num_frames == 90
    found = {side: tracked.found(side) for side in ("left", "right")}
    assert found["right"].mean() >= 0.9, found["right"].mean()
    assert found["left"].mean() >= 0.4 and found["left"][:45].mean() >= 0.6, found["left"].mean()
    for side in ("left", "right"):
        own, other = hand_errors(tracked, side)
        seen = found[side]
        assert (own[seen] < other[seen]).mean() >= 0.95, (side, own[seen], other[seen])
        assert np.median(own[seen]) < 12.0, (side, np.median(own[seen]))
        world = tracked.world[side][seen]
        assert np.allclose(world[:, 0], 0.0)  # wrist-relative metres, a hand's size
        assert 0.05 < np.median(np.linalg.norm(world[:, 12], axis=-1)) < 0.25


@pytest.mark.slow
def test_mirrored_hands_get_their_true_sides(hands_clip: Path, tmp_path: Path) -> None:
    """The crop as a selfie camera stores it (left and right swapped): read as it is, the true right
    hand is taken for a left one; with ``mirror=True`` each hand is on its true side again and
    where the plain crop has it."""
    mirrored = tmp_path / "mirrored"
    mirrored.mkdir()
    for image in sorted(hands_clip.iterdir()):
        cv2.imwrite(str(mirrored / image.name), cv2.imread(str(image))[:, ::-1])
    truth, width = hand_truth(), SIDE * SCALE
    with open_footage(mirrored) as footage:
        as_is = track_hands(footage, footage.info.fps, (footage.info.width, footage.info.height))
    seen = as_is.found("left")
    rows = joint_rows("left")[0]
    swapped = truth["right"].copy()
    swapped[..., 0] = width - 1 - swapped[..., 0]                   # where the true right hand shows
    error = np.linalg.norm(as_is.points_2d["left"][:, rows] - swapped, axis=-1).mean(-1)
    assert seen.mean() >= 0.9 and np.median(error[seen]) < 12.0, "a mirrored right hand reads as a left"
    with open_footage(mirrored, mirror=True) as footage:
        flipped = track_hands(footage, footage.info.fps, (footage.info.width, footage.info.height))
    assert flipped.found("right").mean() >= 0.9
    for side in ("left", "right"):
        own, other = hand_errors(flipped, side)
        found = flipped.found(side)
        assert (own[found] < other[found]).mean() >= 0.95 and np.median(own[found]) < 12.0, side
    # the hands-only capture through the CLI says the footage was mirrored, for the add-on
    mano = write_mano_files(tmp_path / "mano")
    output = tmp_path / "hands.npz"
    result = run_cli(*capture_command(mirrored, mano, output), "--mirrored")
    assert result.returncode == 0, result.stderr[-2000:]
    from addon.motion_file import load_motion

    motion = load_motion(output)
    assert motion.camera.mirrored and [p.side for p in motion.people] == ["left", "right"]


def test_palm_anchors_and_hand_region() -> None:
    """2016 anchors (24x24x2 at stride 8, 12x12x6 at stride 16); a palm whose fingers point right gives
    a hand region turned a quarter turn, shifted towards the fingers, 2.6 palm boxes wide."""
    from models.detectors.palm import INPUT_SIDE, STRIDES, PalmDetection
    from models.detectors.blazepose import ssd_anchors

    anchors = ssd_anchors(INPUT_SIDE, STRIDES)
    assert anchors.shape == (2016, 2) and np.allclose(anchors[0], [0.5 / 24, 0.5 / 24])
    keypoints = np.zeros((7, 2))
    keypoints[0], keypoints[2] = (100.0, 200.0), (140.0, 200.0)  # wrist, middle knuckle to its right
    roi = PalmDetection(0.9, np.array([90.0, 180.0, 150.0, 220.0]), keypoints).roi()
    assert roi.rotation == pytest.approx(np.pi / 2)
    assert roi.size == pytest.approx(2.6 * 60.0)
    assert (roi.cx, roi.cy) == pytest.approx((120.0 + 20.0, 200.0))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", "--progress", "json", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_hands_only_capture_writes_a_mano_motion_file(hands_clip: Path, tmp_path: Path) -> None:
    """End to end: the CLI finds both hands, fits a MANO hand per side, and writes a hands motion
    file that ``inspect`` and the add-on's reader accept; the fitted joints land on the true hands.
    Measured: model joints 10 / 11 px (right / left, median, crop px) from the truth, wrist depth
    within 12 cm of the truth (the test MANO file is not a real hand)."""
    import torch

    from addon.motion_file import load_motion
    from models.body import load_hand_model

    mano = write_mano_files(tmp_path / "mano")
    output = tmp_path / "hands.npz"
    result = run_cli(*capture_command(hands_clip, mano, output))
    assert result.returncode == 0, result.stderr[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    stages = [e.get("stage") for e in events if e.get("event") == "stage"]
    assert stages == ["detect", "fit", "write"], stages
    done = [e for e in events if e.get("event") == "done"][-1]
    assert done["hands"] == ["left", "right"] and done["body_model"] == "mano"
    inspected = run_cli("inspect", str(output))
    assert inspected.returncode == 0, inspected.stderr[-2000:]
    motion = load_motion(output)
    assert motion.subject == "hands" and motion.avatar.model == "mano"
    assert [p.side for p in motion.people] == ["left", "right"]
    truth_all = true_joints_px()
    with np.load(output) as data:
        focal, center = data["camera_focal_px"], data["camera_center_px"]
        for i, side in enumerate(("left", "right")):
            model = load_hand_model(str(mano), side)
            get = lambda key: torch.as_tensor(data[f"p{i}/{key}"], dtype=torch.float32)  # noqa: E731
            valid = data[f"p{i}/valid"]
            assert valid.mean() >= (0.4 if side == "left" else 0.9)
            with torch.no_grad():
                joints = model(get("betas").expand(90, 10), get("global_orient"), get("hand_pose"),
                               get("transl")).joints.numpy()[:, :16]
            uv = joints[..., :2] / joints[..., 2:] * focal + center
            truth = truth_all[:, [SMPLX_JOINT_NAMES.index(f"{side}_{name}") for name in MANO_JOINT_NAMES]]
            error = np.linalg.norm(uv - truth, axis=-1).mean(-1)[valid]
            assert np.median(error) < 16.0, (side, np.median(error))
            assert 1.2 < np.median(joints[valid, 0, 2]) < 2.2  # the hands are about 1.6-1.7 m away


def test_hands_only_needs_the_mano_folder(tmp_path: Path) -> None:
    """--hands-only without --mano-dir: exit 2 with a clear message; a folder without MANO files: exit 3."""
    image = tmp_path / "black.png"
    cv2.imwrite(str(image), np.zeros((64, 64, 3), np.uint8))
    result = run_cli("capture", str(image), "-o", str(tmp_path / "m.npz"), "--hands-only")
    assert result.returncode == 2 and "--mano-dir" in result.stdout
    (tmp_path / "empty").mkdir()
    result = run_cli("capture", str(image), "-o", str(tmp_path / "m.npz"), "--hands-only",
                     "--mano-dir", str(tmp_path / "empty"))
    assert result.returncode == 3 and "MANO" in result.stdout
    result = run_cli("capture", str(image), "-o", str(tmp_path / "m.npz"), "--mano-dir", str(tmp_path))
    assert result.returncode == 2 and "--hands-only" in result.stdout


def test_no_hands_in_view_is_a_clear_error(tmp_path: Path) -> None:
    """Hands-only capture of a frame without hands: exit 2, 'no hands were found', no file written."""
    image = tmp_path / "black.png"
    cv2.imwrite(str(image), np.full((64, 64, 3), 90, np.uint8))
    mano = write_mano_files(tmp_path / "mano")
    result = run_cli("capture", str(image), "-o", str(tmp_path / "m.npz"), "--hands-only",
                     "--mano-dir", str(mano))
    assert result.returncode == 2 and "no hands were found" in result.stdout, result.stdout[-2000:]
    assert not (tmp_path / "m.npz").exists()


def test_a_lone_hand_moves_to_the_side_its_handedness_keeps_saying() -> None:
    """A left track that slid onto the right hand (its handedness says right for SWITCH_AFTER frames)
    becomes the right hand; one or two such frames, or both sides tracked, change nothing."""
    from core.hands_only import SWITCH_AFTER, HandsOnlyTracker, _Track
    from models.detectors.hand_landmarks import HandLandmarks
    from models.detectors.roi import Roi

    tracker = HandsOnlyTracker.__new__(HandsOnlyTracker)  # side logic only: no networks
    points = np.random.default_rng(0).uniform(0, 50, (21, 2))
    hand = HandLandmarks(1.0, points, np.zeros(21), np.zeros((21, 3)), Roi(25, 25, 60), right_score=0.9)
    tracker.tracks = {"left": _Track(hand, 0.4, SWITCH_AFTER - 1), "right": None}
    tracker._settle_sides()
    assert tracker.tracks["left"] is not None and tracker.tracks["right"] is None
    tracker.tracks = {"left": _Track(hand, 0.4, SWITCH_AFTER), "right": _Track(hand, 0.9)}
    tracker._settle_sides()
    assert tracker.tracks["left"].hand is hand and tracker.tracks["right"] is not None
    tracker.tracks = {"left": _Track(hand, 0.4, SWITCH_AFTER), "right": None}
    tracker._settle_sides()
    assert tracker.tracks["left"] is None and tracker.tracks["right"].hand is hand
    assert tracker.tracks["right"].against == 0


@pytest.mark.slow
def test_hands_only_capture_takes_the_lens_from_photo_metadata(hands_clip: Path, tmp_path: Path) -> None:
    """The crop's first 20 frames as JPEG photos carrying EXIF FocalLengthIn35mmFilm (the crop's
    lens: 35 mm on 12.375 mm of sensor, 86.5 mm in 35 mm terms): the MANO motion file's camera
    is that lens (hands carry no perspective to refine it), with its 10 % uncertainty."""
    from PIL import Image

    from core.lens_metadata import focal_px_from_35mm

    photos = tmp_path / "photos"
    photos.mkdir()
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 87                       # FocalLengthIn35mmFilm, mm
    for k, frame in enumerate(sorted(hands_clip.glob("*.png"))[:20]):
        Image.open(frame).convert("RGB").save(photos / f"photo{k:02d}.jpg", quality=95, exif=exif)
    mano = write_mano_files(tmp_path / "mano")
    output = tmp_path / "hands.npz"
    result = run_cli("capture", str(photos), "-o", str(output), "--hands-only", "--mano-dir", str(mano))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "metadata gives its lens: 87 mm" in result.stdout + result.stderr
    with np.load(output) as data:
        assert str(data["camera_focal_source"]) == "metadata"
        focal, std = float(data["camera_focal_px"][0]), float(data["camera_focal_std_px"])
    size = SIDE * SCALE
    assert focal == pytest.approx(focal_px_from_35mm(87, size, size), rel=1e-6)
    assert focal == pytest.approx(35.0 / 12.375 * size, rel=0.01) and std == pytest.approx(0.1 * focal)


def test_the_scenes_lines_give_hands_only_footage_a_focal() -> None:
    """Hands carry no perspective: hands-only tracking keeps the focal a tiled floor's lines give
    (core.scene_focal; a drawn floor seen through a 500 px lens, no hands in view), which
    capture_hands joins to the prior (core.fit.focal.estimate_focal without people)."""
    from types import SimpleNamespace

    from core.fit.focal import LensPrior, estimate_focal
    from tests.core.test_horizon import _floor

    floor, _ = _floor(focal=500.0)
    frames = [SimpleNamespace(index=k, image=floor) for k in range(6)]
    found = track_hands(frames, 30.0, (640, 480))
    assert found.found("left").sum() == found.found("right").sum() == 0
    focal_px, log_std = found.scene_focal
    assert abs(focal_px / 500.0 - 1) < 0.05 and 0 < log_std < 0.15
    focal = estimate_focal([], found.image_size, scene=LensPrior(focal_px, log_std, "scene"))
    assert focal.scene and focal.source == "estimated" and abs(focal.focal_px / 500.0 - 1) < 0.06


def test_hands_are_masked_out_of_the_scene() -> None:
    from types import SimpleNamespace

    from core.hands_only import _hands_mask

    pts = np.array([[300.0 + 4 * (k % 5), 200.0 + 3 * k] for k in range(21)])   # a hand 16 x 60 px
    mask = _hands_mask((480, 640, 3), {"left": SimpleNamespace(points_2d=pts), "right": None})
    assert mask.shape == (480, 640) and mask[230, 305] and not mask[100, 100]
    ys, xs = np.nonzero(mask)
    assert ys.min() < 200 - 8 and ys.max() > 260 + 8            # grown by a fifth of the hand's size
    assert not _hands_mask((480, 640, 3), {"left": None, "right": None}).any()
    # a big hand beside it grows by its own size only: the small one's region stays as it was
    big = np.array([[450.0 + 10 * (k % 5), 100.0 + 10 * k] for k in range(21)])   # 40 x 200 px
    both = _hands_mask((480, 640, 3), {"left": SimpleNamespace(points_2d=pts),
                                       "right": SimpleNamespace(points_2d=big)})
    np.testing.assert_array_equal(both[:, :400], mask[:, :400])
    assert both[200, 470] and not mask[200, 470]
