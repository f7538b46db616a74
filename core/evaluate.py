"""Metrics of a motion file against ground truth, and the evaluation over all samples.

Joints of the result come from forward kinematics of its own parameters and rest
joints (``p{i}/rest_joints``, ``avatar/hand_mean``); the truth's joints are its
``p{i}/joints_cam``. People are matched per frame (Hungarian on the 2D distance of
their projected body joints), which also counts identity switches.

Metrics (means over matched, valid frames):

* ``body_mpjpe_mm`` / ``body_pa_mpjpe_mm``: joints 0..21, pelvis-aligned / after a
  per-frame similarity (Procrustes) alignment;
* ``hand_mpjpe_mm`` / ``hand_pa_mpjpe_mm``: wrist + 15 finger joints per hand,
  wrist-aligned / Procrustes per hand and frame;
* ``overlay_px``: result joints through the result camera vs true joints through the
  true camera (what an overlay on the footage shows), over joints inside the frame;
* ``focal_error_pct``; ``focal_std_pct``: the file's own 1-sigma (None for a user focal);
  ``root_error_mm``: pelvis position in the camera frame;
* ``accel_error_mm``: |acceleration difference| of pelvis-aligned body joints (mm/frame^2);
  ``jitter_mm``: the result's own mean acceleration; ``lag_frames``: shift maximising the
  correlation of result and true joint velocities (runs whose best correlation is under
  ``MIN_LAG_CORRELATION`` say nothing about lag and are left out);
* ``foot_skate_mm``: mean per-frame slide of feet the truth has planted;
* ``id_switches``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from models.kinematics import axis_angle_to_matrix_np, forward_kinematics_np
from models.skeleton import LEFT_HAND_JOINTS, LEFT_WRIST, RIGHT_HAND_JOINTS, RIGHT_WRIST, parents_array

BODY = list(range(22))
FEET = (7, 8, 10, 11)  # ankles and feet
PLANTED_MM_PER_FRAME = 4.0
PLANTED_HEIGHT_M = 0.12


def _load(data: Mapping[str, Any] | str | Path) -> dict[str, np.ndarray]:
    if isinstance(data, (str, Path)):
        with np.load(data, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    return {k: np.asarray(v) for k, v in data.items()}


def motion_joints(motion: Mapping[str, np.ndarray], index: int) -> np.ndarray:
    """(T, 55, 3) joints of person ``index`` in the camera frame (metres), by FK of the file."""
    p = f"p{index}/"
    hand_mean = np.asarray(motion["avatar/hand_mean"], np.float64).reshape(30, 3)
    t = motion[p + "global_orient"].shape[0]
    local = np.concatenate([
        motion[p + "global_orient"][:, None], motion[p + "body_pose"], motion[p + "jaw_pose"][:, None],
        np.zeros((t, 2, 3)), motion[p + "left_hand_pose"] + hand_mean[:15],
        motion[p + "right_hand_pose"] + hand_mean[15:]], axis=1)
    joints, _ = forward_kinematics_np(axis_angle_to_matrix_np(local), motion[p + "rest_joints"],
                                      list(motion["avatar/parents"]), motion[p + "transl"])
    return joints


def project(points: np.ndarray, focal: float, center: np.ndarray) -> np.ndarray:
    """(..., 3) camera frame -> (..., 2) px (depth clamped to 1 cm)."""
    return focal * points[..., :2] / np.clip(points[..., 2:3], 0.01, None) + center


def procrustes(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Similarity-align ``pred`` (N, K, 3) to ``true`` per row; returns the aligned prediction."""
    mp, mt = pred.mean(1, keepdims=True), true.mean(1, keepdims=True)
    p, q = pred - mp, true - mt
    h = np.einsum("nki,nkj->nij", p, q)
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", u, vt)))
    s = s.copy()
    s[:, 2] *= d
    vt = vt.copy()
    u = u.copy()
    u[:, :, 2] *= d[:, None]
    r = np.einsum("nij,njk->nik", u, vt)          # p @ r ~ q
    scale = s.sum(1) / np.clip((p**2).sum((1, 2)), 1e-12, None)
    return scale[:, None, None] * np.einsum("nki,nij->nkj", p, r) + mt


def _hand(joints: np.ndarray, side: str) -> np.ndarray:
    wrist, sl = (LEFT_WRIST, LEFT_HAND_JOINTS) if side == "left" else (RIGHT_WRIST, RIGHT_HAND_JOINTS)
    return np.concatenate([joints[:, wrist:wrist + 1], joints[:, sl]], 1)


MIN_LAG_CORRELATION = 0.3


def _lag(pred: np.ndarray, true: np.ndarray, max_lag: int = 6) -> float | None:
    """Frames the prediction trails the truth (positive = late), from velocity correlation.

    ``pred``, ``true``: (T, J, 3) pelvis-aligned joints in metres. None when the best
    correlation is under ``MIN_LAG_CORRELATION`` (the velocities are mostly noise, so the
    best shift is chance) or the run is too short to try every shift."""
    vp = np.diff(pred, axis=0).reshape(len(pred) - 1, -1)
    vt = np.diff(true, axis=0).reshape(len(true) - 1, -1)
    if len(vp) <= 2 * max_lag + 2:
        return None
    best, best_c = 0, -math.inf
    for lag in range(-max_lag, max_lag + 1):
        a = vp[max(lag, 0):len(vp) + min(lag, 0)]
        b = vt[max(-lag, 0):len(vt) + min(-lag, 0)]
        c = float((a * b).sum() / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
        if c > best_c:
            best, best_c = lag, c
    return float(best) if best_c >= MIN_LAG_CORRELATION else None


def _match(pred_2d: list[np.ndarray], pred_ok: list[np.ndarray], true_2d: list[np.ndarray],
           true_ok: list[np.ndarray], max_px: float) -> np.ndarray:
    """(G, T) index of the predicted person matched to each true person per frame (-1: none)."""
    g, t = len(true_2d), true_2d[0].shape[0] if true_2d else 0
    match = -np.ones((g, t), np.int64)
    for f in range(t):
        cost = np.full((g, len(pred_2d)), 1e9)
        for i in range(g):
            for j in range(len(pred_2d)):
                if true_ok[i][f] and pred_ok[j][f]:
                    cost[i, j] = float(np.linalg.norm(true_2d[i][f] - pred_2d[j][f], axis=-1).mean())
        if not len(pred_2d):
            continue
        rows, cols = linear_sum_assignment(cost)
        for r, c in zip(rows, cols, strict=True):
            if cost[r, c] < max_px:
                match[r, f] = c
    return match


def evaluate_motion(motion: Mapping[str, Any] | str | Path, truth: Mapping[str, Any] | str | Path) -> dict[str, Any]:
    """Metrics of a motion file against a ground-truth file (see the module docstring)."""
    m, g = _load(motion), _load(truth)
    pf, tf = float(m["camera_focal_px"][0]), float(g["camera_focal_px"][0])
    pc, tc = np.asarray(m["camera_center_px"], float), np.asarray(g["camera_center_px"], float)
    np_, ng = len(m["person_ids"]), len(g["person_ids"])
    pred = [motion_joints(m, i) for i in range(np_)]
    true = [np.asarray(g[f"p{i}/joints_cam"], np.float64) for i in range(ng)]
    pred_ok = [np.asarray(m[f"p{i}/valid"], bool) for i in range(np_)]
    true_ok = [np.asarray(g[f"p{i}/valid"], bool) for i in range(ng)]
    t = min([len(m["frame_index"])] + [len(x) for x in true])
    pred, pred_ok = [p[:t] for p in pred], [v[:t] for v in pred_ok]
    true, true_ok = [x[:t] for x in true], [v[:t] for v in true_ok]
    pred_2d = [project(p[:, BODY], pf, pc) for p in pred]
    true_2d = [project(x[:, BODY], tf, tc) for x in true]
    width = float(np.asarray(g["image_size"])[0])
    match = _match(pred_2d, pred_ok, true_2d, true_ok, max_px=0.15 * width) if ng else np.zeros((0, t), int)
    acc: dict[str, list[float]] = {k: [] for k in (
        "body_mpjpe_mm", "body_pa_mpjpe_mm", "hand_mpjpe_mm", "hand_pa_mpjpe_mm", "overlay_px",
        "root_error_mm", "accel_error_mm", "jitter_mm", "true_accel_mm", "foot_skate_mm", "lag_frames")}
    switches, matched_frames, true_frames = 0, 0, 0
    floor = np.asarray(g["floor_plane_cam"], float) if "floor_plane_cam" in g else None
    for i in range(ng):
        ids = match[i]
        seen = ids[ids >= 0]
        switches += int((np.diff(seen) != 0).sum()) if len(seen) > 1 else 0
        true_frames += int(true_ok[i].sum())
        matched_frames += int((ids >= 0).sum())
        if not len(seen):
            continue
        j = int(np.bincount(seen).argmax())      # the main predicted track of this person
        frames = np.nonzero(ids == j)[0]
        p, x = pred[j][frames], true[i][frames]
        pb, xb = p[:, BODY] - p[:, :1], x[:, BODY] - x[:, :1]
        acc["body_mpjpe_mm"].append(float(np.linalg.norm(pb - xb, axis=-1).mean() * 1000))
        acc["body_pa_mpjpe_mm"].append(float(np.linalg.norm(procrustes(p[:, BODY], x[:, BODY]) - x[:, BODY],
                                                            axis=-1).mean() * 1000))
        for side in ("left", "right"):
            ph, xh = _hand(p, side), _hand(x, side)
            acc["hand_mpjpe_mm"].append(float(np.linalg.norm((ph - ph[:, :1]) - (xh - xh[:, :1]),
                                                             axis=-1).mean() * 1000))
            acc["hand_pa_mpjpe_mm"].append(float(np.linalg.norm(procrustes(ph, xh) - xh, axis=-1).mean() * 1000))
        keep = np.r_[BODY, list(range(25, 55))]
        true_px = project(x[:, keep], tf, tc)
        size = np.asarray(g["image_size"], float)
        inside = (true_px >= 0).all(-1) & (true_px < size).all(-1) & (x[:, keep, 2] > 0)
        if inside.any():  # joints the footage shows
            acc["overlay_px"].append(float(np.linalg.norm(project(p[:, keep], pf, pc) - true_px,
                                                          axis=-1)[inside].mean()))
        acc["root_error_mm"].append(float(np.linalg.norm(p[:, 0] - x[:, 0], axis=-1).mean() * 1000))
        runs = np.split(np.arange(len(frames)), np.nonzero(np.diff(frames) != 1)[0] + 1)
        for run in runs:
            if len(run) < 3:
                continue
            ap = pb[run][2:] - 2 * pb[run][1:-1] + pb[run][:-2]
            ax = xb[run][2:] - 2 * xb[run][1:-1] + xb[run][:-2]
            acc["accel_error_mm"].append(float(np.linalg.norm(ap - ax, axis=-1).mean() * 1000))
            acc["jitter_mm"].append(float(np.linalg.norm(ap, axis=-1).mean() * 1000))
            acc["true_accel_mm"].append(float(np.linalg.norm(ax, axis=-1).mean() * 1000))
            in_frame = [k for k in BODY if (project(x[run][:, k], tf, tc) >= 0).all()
                         and (project(x[run][:, k], tf, tc) < np.asarray(g["image_size"], float)).all()]
            lag = _lag(pb[run][:, in_frame], xb[run][:, in_frame]) if in_frame else None
            if lag is not None:
                acc["lag_frames"].append(lag)
            feet_p, feet_x = p[run][:, FEET], x[run][:, FEET]
            slide_x = np.linalg.norm(np.diff(feet_x, axis=0), axis=-1) * 1000
            planted = slide_x < PLANTED_MM_PER_FRAME
            if floor is not None:
                height = feet_x[1:] @ floor[:3] + floor[3]
                planted &= height < PLANTED_HEIGHT_M
            if planted.any():
                slide_p = np.linalg.norm(np.diff(feet_p, axis=0), axis=-1) * 1000
                acc["foot_skate_mm"].append(float(slide_p[planted].mean()))
    out: dict[str, Any] = {k: (float(np.mean(v)) if v else None) for k, v in acc.items()}
    out["focal_px"] = pf
    out["true_focal_px"] = tf
    out["focal_error_pct"] = abs(pf - tf) / tf * 100
    out["focal_std_px"] = float(m.get("camera_focal_std_px", np.nan))
    out["focal_std_pct"] = out["focal_std_px"] / pf * 100 if out["focal_std_px"] > 0 else None
    out["focal_source"] = str(m.get("camera_focal_source", ""))
    out["id_switches"] = switches
    out["people_true"] = ng
    out["people_found"] = np_
    out["matched_ratio"] = matched_frames / true_frames if true_frames else 0.0
    return out


# ---------------------------------------------------------------------------------------
# all samples
# ---------------------------------------------------------------------------------------

COLUMNS = (("body_pa_mpjpe_mm", "bodyPA", "{:.1f}"), ("body_mpjpe_mm", "body", "{:.1f}"),
           ("hand_pa_mpjpe_mm", "handPA", "{:.1f}"), ("hand_mpjpe_mm", "hand", "{:.1f}"),
           ("overlay_px", "2Dpx", "{:.1f}"), ("focal_error_pct", "focal%", "{:.1f}"),
           ("focal_std_pct", "fstd%", "{:.0f}"),
           ("root_error_mm", "rootmm", "{:.0f}"), ("accel_error_mm", "accel", "{:.2f}"),
           ("foot_skate_mm", "skate", "{:.1f}"), ("lag_frames", "lag", "{:.1f}"),
           ("id_switches", "idsw", "{:d}"), ("fit_ms_per_person_frame", "fit ms", "{:.1f}"))


def format_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width text table of per-sample metric rows (``sample`` and ``camera`` keys)."""
    head = ["sample", "camera"] + [c[1] for c in COLUMNS]
    lines = [head]
    for r in rows:
        cells = [str(r.get("sample", "")), str(r.get("camera", ""))]
        for key, _, fmt in COLUMNS:
            v = r.get(key)
            cells.append("-" if v is None else fmt.format(v))
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if k > 1 else c.ljust(w) for k, (c, w) in
                               enumerate(zip(line, widths, strict=True))) for line in lines)


def evaluate_samples(samples_dir: str | Path, progress: Any, device: str = "cpu", smoothing: float = 1.0,
                     names: list[str] | None = None, baseline: bool = True) -> dict[str, Any]:
    """Capture every sample (detection once, fitting with the estimated focal and with a fixed
    55 degree field of view) and measure both against the truth."""
    from dataclasses import replace

    from core.capture import capture, fit_keypoints
    from core.fit.body import FitOptions
    from core.fit.focal import BASELINE_FOV_DEG, FocalEstimate, focal_from_fov
    from core.progress import Progress
    from models.body import load_body_model

    root = Path(samples_dir)
    folders = sorted(p for p in root.iterdir() if (p / "ground_truth.npz").is_file() and
                     (p / "footage.mp4").is_file()) if root.is_dir() else []
    if names:
        folders = [f for f in folders if f.name in names]
    rows: list[dict[str, Any]] = []
    quiet = Progress("quiet")
    model = load_body_model("mannequin-x", device=device)   # once: its first load is not fitting time
    for k, folder in enumerate(folders):
        progress.info(f"[{k + 1}/{len(folders)}] {folder.name}")
        options = FitOptions(device=device, smoothing=smoothing)
        result = capture(folder / "footage.mp4", options, quiet, model=model)
        people_frames = max(sum(int(p.valid.sum()) for p in result.keypoints.people), 1)
        frames = max(result.keypoints.num_frames, 1)
        variants = [("estimated", result.arrays, result.seconds["fit"])]
        if baseline:
            width = float(result.keypoints.image_size[0])
            fixed = replace(options, focal=FocalEstimate(focal_from_fov(width, BASELINE_FOV_DEG), 0.0, "user"))
            start = time.perf_counter()
            arrays, _ = fit_keypoints(result.keypoints, fixed, quiet, model)
            variants.append((f"fov{BASELINE_FOV_DEG:g}", arrays, time.perf_counter() - start))
        for camera, arrays, fit_s in variants:
            row = evaluate_motion(arrays, folder / "ground_truth.npz")
            row.update(sample=folder.name, camera=camera, frames=frames,
                       fit_ms_per_person_frame=fit_s * 1000 / people_frames,
                       detect_ms_per_frame=result.seconds["detect"] * 1000 / frames,
                       flips_repaired=sum(p.flips_repaired for p in result.fit.people))
            rows.append(row)
    return {"samples": rows, "table": format_table(rows)}


def write_json(report: Mapping[str, Any], path: str | Path) -> Path:
    """Write a report as JSON (atomically)."""
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(report, fh, indent=2, default=float)
    os.replace(tmp, path)
    return path


__all__ = ["evaluate_motion", "evaluate_samples", "format_table", "motion_joints", "parents_array",
           "procrustes", "write_json"]
