"""Metrics against ground truth (core.evaluate) and the evaluate command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.evaluate import evaluate_motion, motion_joints, procrustes
from core.motion import CameraParams, PersonParams, body_motion, write_motion
from models.body import load_body_model
from models.kinematics import axis_angle_to_matrix_np

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model():
    return load_body_model("mannequin-x")


def _people(count: int, frames: int, seed: int = 0) -> list[PersonParams]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        t = np.linspace(0, 1, frames)[:, None]
        go = np.tile([np.pi, 0.0, 0.0], (frames, 1)) + rng.normal(0, 0.05, (frames, 3))
        body = rng.normal(0, 0.15, (1, 21, 3)) + 0.3 * np.sin(6 * t)[:, :, None] * rng.normal(0, 1, (1, 21, 3))
        transl = np.concatenate([np.full((frames, 1), 1.2 * i - 1.0), 0.2 * t, 4.0 + t], 1)
        out.append(PersonParams(track_id=10 + i, betas=rng.normal(0, 0.5, 10), global_orient=go, body_pose=body,
                                left_hand_pose=rng.normal(0, 0.2, (frames, 15, 3)),
                                right_hand_pose=rng.normal(0, 0.2, (frames, 15, 3)), jaw_pose=np.zeros((frames, 3)),
                                transl=transl, valid=np.ones(frames, bool), confidence=np.ones(frames)))
    return out


def _motion(model, people, focal: float = 800.0, truth: bool = False) -> dict[str, np.ndarray]:
    frames = people[0].transl.shape[0]
    data = body_motion(people, model, fps=30.0, image_size=(1280, 720), frame_index=np.arange(frames),
                       camera=CameraParams((focal, focal), (640.0, 360.0), 0.0, "user"))
    if truth:
        for i in range(len(people)):
            data[f"p{i}/joints_cam"] = motion_joints(data, i).astype(np.float32)
    return data


def test_procrustes_undoes_similarity() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 22, 3))
    r = axis_angle_to_matrix_np(rng.normal(size=(4, 3)))
    y = 1.3 * np.einsum("nij,nkj->nki", r, x) + rng.normal(size=(4, 1, 3))
    np.testing.assert_allclose(procrustes(y, x), x, atol=1e-9)


def test_perfect_result_scores_zero(model) -> None:
    people = _people(2, 20)  # long enough to measure lag
    truth = _motion(model, people, truth=True)
    m = evaluate_motion(_motion(model, people), truth)
    for key in ("body_mpjpe_mm", "body_pa_mpjpe_mm", "hand_mpjpe_mm", "hand_pa_mpjpe_mm", "overlay_px",
                "root_error_mm", "accel_error_mm", "focal_error_pct"):
        assert m[key] == pytest.approx(0.0, abs=1e-3), key
    assert m["id_switches"] == 0 and m["matched_ratio"] == 1.0 and m["lag_frames"] == 0


def test_errors_are_measured(model) -> None:
    people = _people(1, 20)
    truth = _motion(model, people, truth=True)
    shifted = _people(1, 20)
    shifted[0].transl = shifted[0].transl + np.array([0.0, 0.0, 0.5])   # 50 cm too far
    bent = _people(1, 20)
    bent[0].body_pose = bent[0].body_pose.copy()
    bent[0].body_pose[:, 17, 1] += 0.5                                    # left elbow off by 0.5 rad
    m_shift = evaluate_motion(_motion(model, shifted), truth)
    m_bent = evaluate_motion(_motion(model, bent), truth)
    assert m_shift["root_error_mm"] == pytest.approx(500.0, rel=1e-3)
    assert m_shift["body_mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)      # pelvis-aligned
    assert m_shift["overlay_px"] > 5
    assert m_bent["body_mpjpe_mm"] > 5 and m_bent["body_pa_mpjpe_mm"] > 2
    assert m_bent["root_error_mm"] == pytest.approx(0.0, abs=1e-3)
    m_focal = evaluate_motion(_motion(model, people, focal=880.0), truth)
    assert m_focal["focal_error_pct"] == pytest.approx(10.0)
    jitter = _people(1, 20)
    jitter[0].body_pose = jitter[0].body_pose + np.random.default_rng(5).normal(0, 0.05, (20, 21, 3))
    assert evaluate_motion(_motion(model, jitter), truth)["accel_error_mm"] > 3


def test_identity_switch_is_counted(model) -> None:
    people = _people(2, 12)
    truth = _motion(model, people, truth=True)
    swapped = _people(2, 12)
    a, b = swapped
    for name in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "transl"):
        va, vb = getattr(a, name).copy(), getattr(b, name).copy()
        va[6:], vb[6:] = getattr(b, name)[6:], getattr(a, name)[6:]
        setattr(a, name, va)
        setattr(b, name, vb)
    a.betas = b.betas = people[0].betas  # same shape, so only the identity differs
    m = evaluate_motion(_motion(model, swapped), truth)
    assert m["id_switches"] == 2


def test_evaluate_command_on_one_file(model, tmp_path: Path) -> None:
    people = _people(1, 10)
    truth_path, motion_path = tmp_path / "gt" / "ground_truth.npz", tmp_path / "motion.npz"
    truth_path.parent.mkdir()
    write_motion(truth_path, _motion(model, people, truth=True))
    write_motion(motion_path, _motion(model, people, focal=840.0))
    out_json = tmp_path / "report.json"
    run = subprocess.run([sys.executable, "-m", "core", "evaluate", "--motion", str(motion_path),
                          "--ground-truth", str(truth_path), "--json", str(out_json)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "bodyPA" in run.stdout and "focal%" in run.stdout
    report = json.loads(out_json.read_text())
    assert report["samples"][0]["focal_error_pct"] == pytest.approx(5.0)
    bad = subprocess.run([sys.executable, "-m", "core", "evaluate", "--motion", str(motion_path)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "go together" in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "core", "evaluate", "--motion", str(tmp_path / "nope.npz"),
                              "--ground-truth", str(truth_path)], cwd=REPO, capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_lag_found_for_a_delayed_copy_and_none_for_noise() -> None:
    from core.evaluate import _lag

    rng = np.random.default_rng(0)
    t = np.arange(60) / 30.0
    waves = np.stack([np.sin(2 * np.pi * 0.7 * t + k) for k in range(12)], axis=1)
    true = waves[..., None] * [0.2, 0.1, 0.05]
    late = np.concatenate([np.repeat(true[:1], 2, axis=0), true[:-2]])  # the same motion, 2 frames late
    assert _lag(late, true) == 2.0 and _lag(true, true) == 0.0
    noise = true[:1] + rng.normal(0, 0.01, true.shape)  # standing still with jitter: no lag to measure
    assert _lag(noise, true) is None
    assert _lag(true[:10], true[:10]) is None  # too short to try every shift
