"""``python -m core inspect``: JSON summaries of motion and keypoints files, clean errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.commands.inspect import summarize
from core.errors import InputError
from core.keypoints_file import Keypoints, PersonKeypoints, save_keypoints
from core.motion import CameraParams, PersonParams, body_motion, write_motion
from models.body import load_body_model

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def motion_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    body = load_body_model("mannequin-x")
    t = 10
    people = []
    for track_id, seen in ((5, 10), (8, 4)):
        valid = np.zeros(t, bool)
        valid[:seen] = True
        people.append(PersonParams(
            track_id=track_id, betas=np.zeros(10), global_orient=np.tile([np.pi, 0.0, 0.0], (t, 1)),
            body_pose=np.zeros((t, 21, 3)), left_hand_pose=np.zeros((t, 15, 3)), right_hand_pose=np.zeros((t, 15, 3)),
            jaw_pose=np.zeros((t, 3)), transl=np.tile([0.0, 0.0, 2.5 + track_id / 10], (t, 1)), valid=valid,
            confidence=np.where(valid, 0.8, 0.0)))
    data = body_motion(people, body, fps=24.0, image_size=(1920, 1080), frame_index=np.arange(t) * 2 + 4,
                       camera=CameraParams((1500.0, 1500.0), (960.0, 540.0), 60.0, "estimated"), source="walk.mp4")
    path = tmp_path_factory.mktemp("inspect") / "motion.npz"
    write_motion(path, data)
    return path


def test_motion_summary(motion_path: Path) -> None:
    result = _cli("inspect", str(motion_path))
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["kind"] == "motion" and summary["frames"] == 10 and summary["fps"] == 24.0
    assert summary["frame_range"] == [4, 22] and summary["image_size"] == [1920, 1080]
    assert summary["camera"]["focal_px"] == [1500.0, 1500.0]
    assert summary["camera"]["focal_std_px"] == 60.0 and summary["camera"]["focal_source"] == "estimated"
    assert summary["camera"]["fov_x_deg"] == pytest.approx(2 * np.degrees(np.arctan(960 / 1500)), abs=0.01)
    assert [p["id"] for p in summary["people"]] == [5, 8]
    assert [p["valid_ratio"] for p in summary["people"]] == [1.0, 0.4]
    assert summary["people"][1]["seen_frames"] == [4, 10]
    assert summary["people"][0]["mean_confidence"] == pytest.approx(0.8)
    assert 1.5 < summary["people"][0]["height_m"] < 2.0
    # pelvis depth = rest pelvis z (rotated by pi about x: -z) + transl z
    assert summary["people"][0]["median_depth_m"] == pytest.approx(3.0, abs=0.05)
    assert summary["avatar"] == {"model": "mannequin-x", "joints": 55, "vertices": 24256, "faces": 48396}


def test_json_progress_mode(motion_path: Path) -> None:
    result = _cli("--progress", "json", "inspect", str(motion_path))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-1]["event"] == "done" and events[-1]["summary"]["frames"] == 10


def test_keypoints_summary(tmp_path: Path) -> None:
    t = 5
    person = PersonKeypoints.empty(3, t)
    person.valid[:4] = True
    person.body_conf[:4] = 0.9
    person.left_hand_conf[:2] = 0.5
    person.face_conf[:1] = 1.0
    kp = Keypoints(source="clip.mp4", fps=30.0, image_size=(640, 480), frame_index=np.arange(t), people=[person])
    path = save_keypoints(kp, tmp_path / "kp.npz")
    summary = summarize(path)
    assert summary["kind"] == "keypoints" and summary["frames"] == 5
    p = summary["people"][0]
    assert p["id"] == 3 and p["valid_ratio"] == 0.8 and p["left_hand_ratio"] == 0.5
    assert p["right_hand_ratio"] == 0.0 and p["face_ratio"] == 0.25
    assert p["mean_body_confidence"] == pytest.approx(0.9)


def test_errors_are_clean(tmp_path: Path, motion_path: Path) -> None:
    result = _cli("inspect", str(tmp_path / "missing.npz"))
    assert result.returncode == 2 and "not found" in result.stderr and "Traceback" not in result.stderr
    with np.load(motion_path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["p0/transl"] = arrays["p0/transl"].copy()
    arrays["p0/transl"][2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    with pytest.raises(InputError, match="non-finite"):
        summarize(tmp_path / "nan.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(InputError):
        summarize(tmp_path / "text.npz")
