"""core.overlay and ``python -m core overlay``: drawings land where the files say, through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from core.keypoints_file import Keypoints, PersonKeypoints, save_keypoints
from core.overlay import BODY_EDGES, person_color, project

REPO = Path(__file__).resolve().parents[2]
W, H = 320, 240
# a stick figure in MediaPipe's 33-landmark layout: shoulders 11/12, elbows 13/14, wrists 15/16,
# hips 23/24, knees 25/26, ankles 27/28 (the rest stay unseen)
FIGURE = {11: (140, 80), 12: (180, 80), 13: (120, 120), 14: (200, 120), 15: (110, 160), 16: (210, 160),
          23: (145, 150), 24: (175, 150), 25: (145, 190), 26: (175, 190), 27: (145, 230), 28: (175, 230)}


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", "--progress", "json", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def events(result: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def figure_person(person_id: int, num_frames: int, shift_per_row: float = 0.0) -> PersonKeypoints:
    person = PersonKeypoints.empty(person_id, num_frames)
    for row in range(num_frames):
        person.valid[row] = True
        for j, (x, y) in FIGURE.items():
            person.body_2d[row, j] = (x + shift_per_row * row - 60, y)
            person.body_conf[row, j] = 1.0
        seen = person.body_2d[row][person.body_conf[row] > 0]
        person.box[row] = (*seen.min(axis=0) - 5, *seen.max(axis=0) + 5)
    return person


def is_color(pixel: np.ndarray, color: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(color)).max() <= tol)


def near_color(image: np.ndarray, x: int, y: int, color: tuple[int, int, int], tol: int = 40, r: int = 1) -> bool:
    """Some pixel within ``r`` of (x, y) has ``color`` (anti-aliased lines dim their edges)."""
    window = image[max(0, y - r): y + r + 1, max(0, x - r): x + r + 1].reshape(-1, 3)
    return any(is_color(p, color, tol) for p in window)


def midpoint(a: tuple[float, float], b: tuple[float, float]) -> tuple[int, int]:
    return int(round((a[0] + b[0]) / 2)), int(round((a[1] + b[1]) / 2))


def test_person_colors_are_distinct() -> None:
    colors = [np.array(person_color(i), float) for i in range(8)]
    assert min(np.abs(a - b).max() for a, b in combinations(colors, 2)) > 40
    assert person_color(5) == person_color(5)


def test_project_pinhole() -> None:
    uv, front = project(np.array([[0.5, -0.25, 2.0], [0.0, 0.0, -1.0]]), np.array([1000.0, 900.0]),
                        np.array([320.0, 240.0]))
    assert np.allclose(uv[0], (320 + 1000 * 0.25, 240 - 900 * 0.125))
    assert front.tolist() == [True, False]


def test_image_overlay_draws_the_skeleton_where_the_file_says(tmp_path: Path) -> None:
    image = tmp_path / "black.png"
    cv2.imwrite(str(image), np.zeros((H, W, 3), np.uint8))
    person = figure_person(7, 1)
    person.body_conf[0, 16] = 0.0  # right wrist unseen: its forearm must not be drawn
    keypoints = tmp_path / "kp.npz"
    save_keypoints(Keypoints(str(image), 30.0, (W, H), np.array([0]), [person]), keypoints)
    out = tmp_path / "out.png"
    result = run_cli("overlay", str(image), str(keypoints), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert events(result)[-1] == {"event": "done", "output": str(out), "frames": 1}
    drawn = cv2.imread(str(out))
    color = person_color(7)
    points = {j: (x - 60, y) for j, (x, y) in FIGURE.items()}
    for a, b in BODY_EDGES:
        if a in points and b in points and 16 not in (a, b):
            x, y = midpoint(points[a], points[b])
            assert near_color(drawn, x, y, color), (a, b, drawn[y - 1: y + 2, x - 1: x + 2])
    x, y = midpoint(points[14], points[16])
    assert drawn[y, x].max() == 0, "an edge to an unseen landmark was drawn"
    assert drawn[:, 200:].max() == 0, "drawn far from the figure"
    label = drawn[int(person.box[0, 1]) - 12: int(person.box[0, 1]), int(person.box[0, 0]): int(person.box[0, 0]) + 20]
    assert np.mean([is_color(p, color) for p in label.reshape(-1, 3)]) > 0.3, "no id label"


def test_overlay_of_mirrored_keypoints_is_drawn_on_the_flipped_footage(tmp_path: Path) -> None:
    """Keypoints detected from flipped-back frames (``mirrored``) are drawn on the footage flipped
    the same way: a picture whose left half is white comes out with the white on the right."""
    picture = np.zeros((H, W, 3), np.uint8)
    picture[:, : W // 2] = 255
    image = tmp_path / "half.png"
    cv2.imwrite(str(image), picture)
    keypoints = tmp_path / "kp.npz"
    save_keypoints(Keypoints(str(image), 30.0, (W, H), np.array([0]), [figure_person(7, 1)], mirrored=True),
                   keypoints)
    out = tmp_path / "out.png"
    result = run_cli("overlay", str(image), str(keypoints), "-o", str(out))
    assert result.returncode == 0, result.stderr
    drawn = cv2.imread(str(out))
    assert drawn[5, 5].max() == 0 and drawn[5, W - 6].min() == 255, "not drawn on the flipped footage"
    x, y = midpoint(*((x - 60, y) for x, y in (FIGURE[23], FIGURE[25])))
    assert near_color(drawn, x, y, person_color(7)), "the skeleton is where the file says"


def test_video_overlay_follows_the_rows(make_video, tmp_path: Path) -> None:
    black = [np.zeros((H, W, 3), np.uint8)] * 20
    video = make_video("black.avi", black, size=(W, H), fourcc="MJPG", fps=25)
    rows = np.arange(2, 19, 2)  # stride 2 from frame 2: 9 rows at 12.5 fps
    person = figure_person(1, len(rows), shift_per_row=10.0)
    keypoints = tmp_path / "kp.npz"
    save_keypoints(Keypoints(str(video), 12.5, (W, H), rows, [person]), keypoints)
    out = tmp_path / "out with space.mp4"
    result = run_cli("overlay", str(video), str(keypoints), "-o", str(out))
    assert result.returncode == 0, result.stderr
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(12.5)
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == 9 and frames[0].shape == (H, W, 3)
    color = person_color(1)
    for row, frame in enumerate(frames):  # the left thigh (23 -> 25) moves 10 px per row
        x, y = midpoint(person.body_2d[row, 23], person.body_2d[row, 25])
        assert near_color(frame, x, y, color, tol=60), (row, frame[y, x])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["black.avi", "kp.npz", "out with space.mp4"]
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask, oct(out.stat().st_mode)


def _motion_file(path: Path, transl: np.ndarray, orient: np.ndarray, focal: float, size: tuple[int, int],
                 track_id: int = 4) -> dict[str, np.ndarray]:
    """A valid motion file (the project's own writer, mannequin-x body) of one person, zero body pose."""
    from core.motion import CameraParams, PersonParams, body_motion, write_motion
    from models.body import MannequinBody

    t = len(transl)
    zeros = np.zeros
    person = PersonParams(track_id=track_id, betas=zeros(10), global_orient=np.tile(orient, (t, 1)),
                          body_pose=zeros((t, 21, 3)), left_hand_pose=zeros((t, 15, 3)),
                          right_hand_pose=zeros((t, 15, 3)), jaw_pose=zeros((t, 3)), transl=transl,
                          valid=np.ones(t, bool), confidence=np.ones(t))
    data = body_motion([person], MannequinBody(), fps=25.0, image_size=size, frame_index=np.arange(t),
                       camera=CameraParams((focal, focal), (size[0] / 2, size[1] / 2), 0.0, "user"))
    write_motion(path, data)
    return data


def test_motion_overlay_projects_forward_kinematics(make_video, tmp_path: Path) -> None:
    import torch

    from models.body import MannequinBody

    orient = np.array([np.pi, 0.0, 0.0])  # model y-up -> camera y-down: the figure stands upright
    body = MannequinBody()
    rest = body.rest_joints_np(np.zeros(10)).astype(np.float64)
    transl = np.array([[0.0, 0.0, 3.0], [0.3, 0.0, 3.0], [0.6, 0.0, 3.0]]) - rest[0]
    size, focal = (W, H), 300.0
    motion = tmp_path / "motion.npz"
    _motion_file(motion, transl, orient, focal, size)
    video = make_video("black.avi", [np.zeros((H, W, 3), np.uint8)] * 3, size=size, fourcc="MJPG")
    out = tmp_path / "motion.avi"
    result = run_cli("overlay", str(video), str(motion), "-o", str(out))
    assert result.returncode == 0, result.stderr
    # the joints as the body model itself poses them (torch forward, not the overlay's numpy path)
    with torch.no_grad():
        f32 = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
        posed = body(f32(np.zeros((3, 10))), f32(np.tile(orient, (3, 1))), f32(np.zeros((3, 21, 3))),
                     f32(np.zeros((3, 15, 3))), f32(np.zeros((3, 15, 3))), f32(np.zeros((3, 3))),
                     transl=f32(transl)).joints.numpy()
    R = Rotation.from_rotvec(orient).as_matrix()
    capture = cv2.VideoCapture(str(out))
    color = person_color(4)
    for row in range(3):
        ok, frame = capture.read()
        assert ok
        by_hand = (rest - rest[0]) @ R.T + rest[0] + transl[row]  # FK of a zero body pose
        for joint in (0, 4, 7, 15, 20):
            assert np.allclose(posed[row, joint], by_hand[joint], atol=1e-4)
        uv = posed[row, :, :2] / posed[row, :, 2:] * focal + np.array(size) / 2
        for joint in (0, 4, 7, 15, 20):  # pelvis, left knee, left ankle, head, left wrist
            x, y = np.round(uv[joint]).astype(int)
            assert near_color(frame, x, y, color, tol=60), (row, joint, frame[y, x])
        assert uv[15, 1] < uv[0, 1] < uv[7, 1], "head above pelvis above ankle"
    capture.release()


def test_motion_overlay_matches_the_body_model_for_any_pose(tmp_path: Path) -> None:
    """Random body, hand and jaw poses: the overlay's joints are the body model's own joints, projected."""
    import torch

    from core.motion import CameraParams, PersonParams, body_motion, write_motion
    from core.overlay import load_overlay_source
    from models.body import MannequinBody

    rng = np.random.default_rng(3)
    t = 4
    body = MannequinBody()
    params = dict(betas=rng.normal(0, 1, 10), global_orient=np.tile([np.pi, 0, 0], (t, 1)) + rng.normal(0, .2, (t, 3)),
                  body_pose=rng.normal(0, .3, (t, 21, 3)), left_hand_pose=rng.normal(0, .3, (t, 15, 3)),
                  right_hand_pose=rng.normal(0, .3, (t, 15, 3)), jaw_pose=rng.normal(0, .1, (t, 3)),
                  transl=np.array([0.0, 0.2, 4.0]) + rng.normal(0, .1, (t, 3)))
    person = PersonParams(track_id=9, valid=np.ones(t, bool), confidence=np.ones(t), **params)
    focal, center = (900.0, 880.0), (330.0, 250.0)
    path = tmp_path / "random.npz"
    write_motion(path, body_motion([person], body, fps=30.0, image_size=(640, 480), frame_index=np.arange(t),
                                   camera=CameraParams(focal, center, 0.0, "user")))
    overlay = load_overlay_source(path)
    _, _, uv, front = overlay.people[0]  # type: ignore[attr-defined]
    f32 = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
    with torch.no_grad():
        joints = body(f32(np.tile(params["betas"], (t, 1))), f32(params["global_orient"]), f32(params["body_pose"]),
                      f32(params["left_hand_pose"]), f32(params["right_hand_pose"]), f32(params["jaw_pose"]),
                      transl=f32(params["transl"])).joints.numpy()
    expected = joints[..., :2] / joints[..., 2:] * np.array(focal) + np.array(center)
    assert front.all()
    assert np.abs(uv - expected).max() < 0.05, np.abs(uv - expected).max()


def test_hands_only_overlay_matches_mano_and_labels_each_wrist(tmp_path: Path) -> None:
    """A hands-only (MANO) motion file: each hand's joints are MANO's own joints, projected, and the
    drawn image carries each hand's colour at its wrist (where the ``id N`` label sits)."""
    import torch

    from core.motion import CameraParams, HandParams, hand_motion, write_motion
    from core.overlay import load_overlay_source
    from models.body import load_hand_model
    from models.smplx_files import write_mano_pkl

    write_mano_pkl(tmp_path / "mano" / "MANO_LEFT.pkl", "left", seed=2)
    write_mano_pkl(tmp_path / "mano" / "MANO_RIGHT.pkl", "right")
    models = {side: load_hand_model(str(tmp_path / "mano"), side) for side in ("left", "right")}
    rng = np.random.default_rng(5)
    t = 3
    hands = [HandParams(track_id=track_id, side=side, betas=rng.normal(0, 1, 10),
                        global_orient=rng.normal(0, 0.5, (t, 3)), hand_pose=rng.normal(0, 0.3, (t, 15, 3)),
                        transl=np.array([x, 0.0, 0.6]) + rng.normal(0, 0.02, (t, 3)),
                        valid=np.ones(t, bool), confidence=np.ones(t))
             for track_id, side, x in ((5, "left", -0.15), (6, "right", 0.15))]
    focal, center = (300.0, 310.0), (W / 2, H / 2)
    path = tmp_path / "hands.npz"
    write_motion(path, hand_motion(hands, models, fps=30.0, image_size=(W, H), frame_index=np.arange(t),
                                   camera=CameraParams(focal, center, 0.0, "user")))
    overlay = load_overlay_source(path)
    f32 = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
    expected = {}
    for hand, (track_id, valid, uv, front) in zip(hands, overlay.people):  # type: ignore[attr-defined]
        assert track_id == hand.track_id and valid.all() and front.all()
        with torch.no_grad():
            joints = models[hand.side](f32(hand.betas).expand(t, 10), f32(hand.global_orient),
                                       f32(hand.hand_pose), f32(hand.transl)).joints.numpy()[:, :16]
        expected[track_id] = joints[..., :2] / joints[..., 2:] * np.array(focal) + np.array(center)
        assert uv.shape == (t, 16, 2)
        assert np.abs(uv - expected[track_id]).max() < 0.05, np.abs(uv - expected[track_id]).max()

    image = tmp_path / "black.png"
    cv2.imwrite(str(image), np.zeros((H, W, 3), np.uint8))
    out = tmp_path / "hands.png"
    result = run_cli("overlay", str(image), str(path), "-o", str(out))
    assert result.returncode == 0, result.stderr
    drawn = cv2.imread(str(out))
    for track_id, uv in expected.items():
        x, y = np.round(uv[0, 0]).astype(int)  # the image is row 0; joint 0 is the wrist
        assert near_color(drawn, x, y, person_color(track_id), tol=60), (track_id, drawn[y, x])


def test_ground_truth_sample_overlay_matches_its_true_joints() -> None:
    """On a rendered ground-truth sample (when present): FK of its parameters lands on its true joints."""
    from addon.motion_file import validate_motion
    from core.overlay import MotionOverlay
    from models.body import MannequinBody

    sample = REPO / "data/samples/default/ground_truth.npz"
    if not sample.exists():
        pytest.skip("ground-truth samples not generated (make samples)")
    with np.load(sample, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if "avatar/parents" not in arrays:  # early sample files lack avatar/*: the mannequin-x avatar made them
        arrays.update(MannequinBody().avatar_arrays())
    overlay = MotionOverlay(validate_motion(arrays, str(sample)))
    _, valid, uv, _ = overlay.people[0]
    true_uv, _ = project(arrays["p0/joints_cam"].astype(np.float64), arrays["camera_focal_px"],
                         arrays["camera_center_px"])
    assert valid.any()
    assert np.abs(uv[valid] - true_uv[valid]).max() < 0.5


# -- errors: clear messages, exit codes, nothing left behind ---------------------------------

@pytest.fixture
def image_and_keypoints(tmp_path: Path) -> tuple[Path, Path]:
    image = tmp_path / "img.png"
    cv2.imwrite(str(image), np.zeros((H, W, 3), np.uint8))
    keypoints = tmp_path / "kp.npz"
    save_keypoints(Keypoints(str(image), 30.0, (W, H), np.array([0]), [figure_person(0, 1)]), keypoints)
    return image, keypoints


def _error(result: subprocess.CompletedProcess[str]) -> dict:
    assert "Traceback" not in result.stderr
    error = events(result)[-1]
    assert error["event"] == "error" and error["exit_code"] == result.returncode
    return error


def run_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    """The CLI's own entry point (same dispatcher, same error handling), without a process start."""
    from core.__main__ import main

    code = main(["--progress", "json", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    last = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")][-1]
    return code, last


def test_errors_are_clear(image_and_keypoints: tuple[Path, Path], tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    image, keypoints = image_and_keypoints
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), np.zeros((100, 100, 3), np.uint8))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip at all")
    cases = [
        ((str(image), str(tmp_path / "missing.npz"), "-o", str(tmp_path / "o.png")), 2, "not found"),
        ((str(image), str(garbage), "-o", str(tmp_path / "o.png")), 2, "not a readable"),
        ((str(other), str(keypoints), "-o", str(tmp_path / "o.png")), 2, "same footage"),
        ((str(other), str(keypoints), "-o", str(tmp_path / "o.mp4")), 2, "same footage"),
        ((str(image), str(keypoints), "-o", str(tmp_path / "o.png"), "--frame", "9"), 2, "frame 9 is not"),
        ((str(image), str(keypoints), "-o", str(tmp_path / "o.xyz")), 2, "must end in"),
        ((str(image), str(keypoints), "-o", str(tmp_path / "no/such/dir/o.png")), 4, "does not exist"),
        ((str(tmp_path / "nope.mp4"), str(keypoints), "-o", str(tmp_path / "o.mp4")), 2, "not found"),
    ]
    for args, code, words in cases:
        got, error = run_in_process(capsys, "overlay", *args)
        assert (got, error["event"], error["exit_code"]) == (code, "error", code), (args, error)
        assert words in error["message"], (args, error["message"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.npz", "img.png", "kp.npz", "other.png"]


def test_error_through_a_real_process(image_and_keypoints: tuple[Path, Path], tmp_path: Path) -> None:
    image, keypoints = image_and_keypoints
    result = run_cli("overlay", str(image), str(keypoints), "-o", str(tmp_path / "o.png"), "--frame", "3")
    assert result.returncode == 2
    assert "frame 3 is not" in _error(result)["message"]
    text = subprocess.run([sys.executable, "-m", "core", "overlay", str(image), str(keypoints), "-o",
                           str(tmp_path / "o.png"), "--frame", "3"], cwd=REPO, capture_output=True, text=True)
    assert text.returncode == 2 and text.stderr.strip().startswith("error: frame 3 is not")


def test_damaged_motion_file_is_refused(tmp_path: Path, image_and_keypoints: tuple[Path, Path],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    image, _ = image_and_keypoints
    good = tmp_path / "good.npz"
    data = _motion_file(good, np.array([[0.0, 0.0, 3.0]]), np.array([np.pi, 0.0, 0.0]), 300.0, (W, H))
    nan = dict(data)
    nan["p0/transl"] = np.array([[0.0, 0.0, np.nan]], np.float32)
    np.savez(tmp_path / "nan.npz", **nan)
    newer = dict(data)
    newer["format"] = np.array("video-mocap-motion/2")
    np.savez(tmp_path / "newer.npz", **newer)
    for name, words in (("nan.npz", "non-finite"), ("newer.npz", "newer")):
        code, error = run_in_process(capsys, "overlay", str(image), str(tmp_path / name), "-o", str(tmp_path / "o.png"))
        assert code == 2 and words in error["message"], error
    code, error = run_in_process(capsys, "overlay", str(image), str(good), "-o", str(tmp_path / "o.png"))
    assert code == 0 and (tmp_path / "o.png").exists(), error


def test_cancel_leaves_no_output(make_video, tmp_path: Path) -> None:
    frames = 400
    video = make_video("long.avi", [np.zeros((480, 640, 3), np.uint8)] * frames, size=(640, 480), fourcc="MJPG")
    person = figure_person(0, frames)
    keypoints = tmp_path / "kp.npz"
    save_keypoints(Keypoints(str(video), 25.0, (640, 480), np.arange(frames), [person]), keypoints)
    out = tmp_path / "out.mp4"
    process = subprocess.Popen([sys.executable, "-m", "core", "--progress", "json", "overlay", str(video),
                                str(keypoints), "-o", str(out)], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:  # wait until frames are being written
        if '"event": "progress"' in line and json.loads(line)["current"] >= 1:
            break
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    if process.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert process.returncode == 130, stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kp.npz", "long.avi"], os.listdir(tmp_path)
