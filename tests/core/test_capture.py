"""``python -m core capture``: keypoints or footage -> motion file, through real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from addon.motion_file import load_motion
from core.keypoints_file import Keypoints, PersonKeypoints, load_keypoints, save_keypoints
from models.keypoints import LEFT_HAND_MAP, POSE_MAP, RIGHT_HAND_MAP
from models.body import load_body_model
from models.kinematics import axis_angle_to_matrix_np, matrix_to_axis_angle_np

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "data" / "samples"
SIZE = (960, 540)


def _keypoints(path: Path, frames: int = 16, focal: float = 700.0) -> Path:
    """A keypoints file a perfect detector would write for one person walking towards the camera."""
    model = load_body_model("mannequin-x")
    t = np.linspace(0, 1, frames)
    base = axis_angle_to_matrix_np(np.array([np.pi, 0, 0]))
    yaw = axis_angle_to_matrix_np(np.stack([0 * t, 0.4 * t, 0 * t], -1))
    go = matrix_to_axis_angle_np(yaw @ base)
    body = np.zeros((frames, 21, 3))
    body[:, 15, 2], body[:, 16, 2] = -1.2, 1.2 - 1.2 * t
    transl = np.stack([0 * t, 0.1 + 0 * t, 3.0 - t], -1)
    f32 = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
    with torch.no_grad():
        out = model(torch.zeros(frames, 10), f32(go), f32(body), torch.zeros(frames, 15, 3),
                    torch.zeros(frames, 15, 3), torch.zeros(frames, 3), f32(transl))
        rest = model.rest_joints(torch.zeros(1, 10))
        pts = POSE_MAP.scatter(POSE_MAP.points(out.transforms, rest).numpy(), 33)   # NaN: unmapped
        hands = [m.points(out.transforms, rest).numpy() for m in (LEFT_HAND_MAP, RIGHT_HAND_MAP)]
    center = np.array(SIZE) / 2
    proj = lambda p: focal * p[..., :2] / p[..., 2:3] + center  # noqa: E731
    person = PersonKeypoints.empty(3, frames)
    person.valid[:] = True
    seen = np.isfinite(pts).all(-1)
    person.body_2d[:] = np.nan_to_num(proj(pts))
    person.body_3d[:] = np.nan_to_num(pts - pts[:, [23, 24]].mean(1, keepdims=True))
    person.body_conf[:] = seen
    for side, h in zip(("left", "right"), hands, strict=True):
        getattr(person, f"{side}_hand_2d")[:] = proj(h)
        getattr(person, f"{side}_hand_3d")[:] = h - h.mean(1, keepdims=True)
        getattr(person, f"{side}_hand_conf")[:] = 1.0
    b = proj(pts)
    person.box[:] = np.concatenate([np.nanmin(b, 1), np.nanmax(b, 1)], 1)
    kp = Keypoints(source="synthetic.mp4", fps=30.0, image_size=SIZE, frame_index=np.arange(frames),
                   people=[person])
    save_keypoints(kp, path)
    return path


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def test_capture_from_keypoints_writes_a_valid_motion_file(tmp_path: Path) -> None:
    kp = _keypoints(tmp_path / "kp.npz")
    out = tmp_path / "motion.npz"
    run = _run("--progress", "json", "capture", str(kp), "-o", str(out), "--fov-deg", "68.9", "--smoothing", "0.5")
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    stages = [e["stage"] for e in events if e["event"] == "stage"]
    assert stages == ["fit", "write"]
    done = events[-1]
    assert done["event"] == "done" and done["output"] == str(out) and done["focal_source"] == "user"
    motion = load_motion(out)  # the add-on's own validator
    data = np.load(out)
    assert str(data["camera_focal_source"]) == "user"
    assert data["camera_focal_px"][0] == pytest.approx(0.5 * SIZE[0] / np.tan(np.radians(68.9) / 2))
    assert data["person_ids"].tolist() == [3] and data["p0/valid"].all()
    assert np.isfinite(data["p0/body_pose"]).all() and np.isfinite(data["p0/transl"]).all()
    assert 1.5 < float(data["p0/transl"][:, 2].mean()) < 3.0  # walked from 3 m to 2 m
    assert motion is not None


def test_capture_estimates_focal_and_reports_it(tmp_path: Path) -> None:
    kp = _keypoints(tmp_path / "kp.npz", focal=700.0)
    out = tmp_path / "motion.npz"
    run = _run("--progress", "json", "capture", str(kp), "-o", str(out), "--no-face")
    assert run.returncode == 0, run.stderr
    data = np.load(out)
    assert str(data["camera_focal_source"]) in ("estimated", "prior")
    assert float(data["camera_focal_std_px"]) > 0
    assert any("focal" in json.loads(line).get("message", "") for line in run.stdout.splitlines())


def test_mirrored_keypoints_make_a_mirrored_motion_file(tmp_path: Path) -> None:
    """A keypoints file detected from flipped-back frames says so, and so does the motion file fitted
    from it (the add-on flips the camera background); asking --mirrored of a keypoints file that was
    detected from the footage as it is, is refused before any fitting."""
    plain = _keypoints(tmp_path / "kp.npz", frames=6)
    refused = _run("capture", str(plain), "-o", str(tmp_path / "no.npz"), "--fov-deg", "60", "--mirrored")
    assert refused.returncode == 2 and "--mirrored" in refused.stderr and "detect" in refused.stderr
    assert not (tmp_path / "no.npz").exists()
    kp = load_keypoints(plain)
    kp.mirrored = True
    mirrored = save_keypoints(kp, tmp_path / "kp_mirrored.npz")
    out = tmp_path / "motion.npz"
    run = _run("capture", str(mirrored), "-o", str(out), "--fov-deg", "60", "--no-face", "--no-hands")
    assert run.returncode == 0, run.stderr
    assert load_motion(out).camera.mirrored
    summary = json.loads(_run("inspect", str(out)).stdout)
    assert summary["camera"]["footage_mirrored"] is True
    assert json.loads(_run("inspect", str(mirrored)).stdout)["footage_mirrored"] is True
    plain_out = tmp_path / "plain.npz"
    assert _run("capture", str(plain), "-o", str(plain_out), "--fov-deg", "60", "--no-face",
                "--no-hands").returncode == 0
    assert not load_motion(plain_out).camera.mirrored


@pytest.mark.parametrize("args, message", [
    (["--smoothing", "-1"], "--smoothing"),
    (["--fov-deg", "50", "--focal-mm", "35"], "not both"),
    (["--sensor-mm", "36"], "--focal-mm"),
    (["--fov-deg", "500"], "field of view"),
    (["--device", "tpu"], "--device"),
])
def test_capture_rejects_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    kp = _keypoints(tmp_path / "kp.npz", frames=4)
    run = _run("capture", str(kp), "-o", str(tmp_path / "m.npz"), *args)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr
    assert not (tmp_path / "m.npz").exists()


def test_capture_missing_input_and_bad_output(tmp_path: Path) -> None:
    run = _run("capture", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "m.npz"))
    assert run.returncode == 2 and "no such file" in run.stderr
    kp = _keypoints(tmp_path / "kp.npz", frames=4)
    run = _run("capture", str(kp), "-o", str(tmp_path / "m.txt"))
    assert run.returncode == 2 and ".npz" in run.stderr
    run = _run("capture", str(kp), "-o", str(tmp_path / "missing_dir" / "m.npz"))
    assert run.returncode == 4


@pytest.mark.slow
def test_capture_and_evaluate_default_sample(tmp_path: Path) -> None:
    """End to end on the rendered ground-truth sample: footage -> detect -> fit -> metrics."""
    footage = SAMPLES / "default" / "footage.mp4"
    if not footage.exists():
        pytest.skip("ground-truth samples not generated (make samples)")
    out = tmp_path / "motion.npz"
    run = _run("--progress", "json", "capture", str(footage), "-o", str(out), timeout=900)
    assert run.returncode == 0, run.stderr
    stages = [json.loads(line)["stage"] for line in run.stdout.splitlines() if '"stage"' in line
              and json.loads(line)["event"] == "stage"]
    assert stages[0] == "detect" and stages[-2:] == ["fit", "write"]
    report = tmp_path / "report.json"
    run = _run("evaluate", "--motion", str(out), "--ground-truth", str(SAMPLES / "default" / "ground_truth.npz"),
               "--json", str(report))
    assert run.returncode == 0, run.stderr
    m = json.loads(report.read_text())["samples"][0]
    # measured 2026-11-23 (samples v5): bodyPA 39.3, handPA 10.3, overlay 3.7 px, accel 3.6 mm/f^2, no id switch
    assert m["body_pa_mpjpe_mm"] < 50
    assert m["hand_pa_mpjpe_mm"] < 15
    assert m["overlay_px"] < 6
    assert m["accel_error_mm"] < 5
    assert m["id_switches"] == 0 and m["matched_ratio"] > 0.95


@pytest.mark.skipif(not (SAMPLES / "default" / "footage.mp4").exists(),
                    reason="ground-truth samples not rendered")
def test_capture_fits_the_users_official_smplx_with_expression(tmp_path: Path) -> None:
    """Real footage, real detectors, an official-format SMPL-X folder written here: the motion
    file is of that model, validates with the add-on's reader, and carries fitted expression."""
    from models.smplx_files import write_smplx_npz

    model_file = write_smplx_npz(tmp_path / "models" / "smplx" / "SMPLX_FEMALE.npz", seed=4)
    out = tmp_path / "motion.npz"
    run = _run("--progress", "json", "capture", str(SAMPLES / "default" / "footage.mp4"), "-o", str(out),
               "--end", "8", "--smplx-dir", str(tmp_path / "models"), "--gender", "female")
    assert run.returncode == 0, run.stderr[-3000:]
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["stage"] for e in events if e["event"] == "stage"] == ["detect", "fit", "face", "write"]
    assert events[-1]["body_model"] == "smplx" and events[-1]["expression_source"] == "face-landmarks"
    motion = load_motion(out)
    assert motion.avatar.model == "smplx" and len(motion.people) >= 1
    assert str(motion.extras["avatar/gender"]) == "female"
    assert str(motion.extras["expression_source"]) == "face-landmarks"
    with np.load(model_file) as official:
        assert motion.avatar.num_vertices == official["v_template"].shape[0]
        np.testing.assert_array_equal(motion.avatar.faces, official["f"].astype(np.int32))
    person = motion.people[0]
    keypoints_face = [e for e in events if e.get("stage") == "face" and e["event"] == "progress"]
    assert keypoints_face and "expression from" in keypoints_face[0]["message"]
    assert person.expression.shape == (8, 10) and np.isfinite(person.expression).all()
    assert np.abs(person.expression).max() > 0  # the face was seen and fitted
    assert person.extras["expression_valid"].shape == (8,) and person.extras["expression_valid"].any()
    summary = _run("inspect", str(out))
    assert summary.returncode == 0 and json.loads(summary.stdout)["expression"] == "fitted to face landmarks"
    # the rest mesh is the model's own for the fitted shape
    body = load_body_model("smplx", str(tmp_path / "models"), gender="female")
    np.testing.assert_allclose(person.rest_vertices, body.rest_vertices(person.betas), atol=1e-5)


def test_mannequin_capture_says_expression_is_not_fitted(tmp_path: Path) -> None:
    kp = _keypoints(tmp_path / "kp.npz", frames=8)
    out = tmp_path / "motion.npz"
    run = _run("--progress", "json", "capture", str(kp), "-o", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.splitlines()[-1])["expression_source"] == "none"
    motion = load_motion(out)
    assert motion.avatar.model == "mannequin-x" and str(motion.extras["expression_source"]) == "none"
    assert not np.asarray(motion.people[0].expression).any()
    summary = _run("inspect", str(out))
    assert summary.returncode == 0 and json.loads(summary.stdout)["expression"] == "none (all zeros)"
