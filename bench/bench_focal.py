"""Focal diagnostics on the ground-truth samples: what the perspective profile can tell.

    .venv/worker/bin/python bench/bench_focal.py [--samples data/samples] [--only NAME ...]

Per sample, the raw minimum of :mod:`core.fit.focal`'s profile (no prior) with

* ``true3d+true2d``: the true body (the model points of the landmarks, posed with the
  truth's parameters) and its exact projection: the method itself (should be the truth);
* ``true3d+det2d``: the true body and the detected landmarks: the ceiling with perfect 3D;
* ``tilt-3/+3``: the true body tilted 3 degrees about the camera's x axis (about the size of
  the lifted body's tilt error) with the detected landmarks: how much the lifted tilt matters;

then the raw minimum for the pipeline's own lifted body (``lifted``: the fitted model's markers,
no prior; ``upright``: the same stood upright on the horizon the detection found, blank where none
was found), the horizon's error at the image centre (``hor_px``), the median rotation about the camera's x axis taking that lifted body onto the true
one (``tilt``, degrees: the lifted body's lean error), the focal the scene's level lines give
taken at right angles (``scene``, px, and its 1-sigma ``scene_std``, % of log focal; blank where
none: :mod:`core.scene_focal`), and the pipeline's estimate (lift, profile, scene, prior) with its
1-sigma. Prints a table.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.capture import fit_keypoints  # noqa: E402
from core.detect import DetectOptions, detect_keypoints  # noqa: E402
from core.fit import body as fit_body  # noqa: E402
from core.fit import focal as F  # noqa: E402
from core.fit.body import BODY_MAP, FitOptions  # noqa: E402
from core.footage import open_footage  # noqa: E402
from core.horizon import row_at  # noqa: E402
from core.progress import Progress  # noqa: E402
from models import keypoints as kp  # noqa: E402
from models.body import BodyModel, load_body_model  # noqa: E402


def true_markers(model: BodyModel, truth: dict[str, np.ndarray], i: int) -> np.ndarray:
    """(T, N, 3) camera-frame model points of the body landmarks (BODY_MAP rows) of true person i."""
    p = f"p{i}/"
    t = truth[p + "transl"].shape[0]

    def f(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, np.float32))

    with torch.no_grad():
        out = model(f(np.broadcast_to(truth[p + "betas"], (t, 10))), f(truth[p + "global_orient"]),
                    f(truth[p + "body_pose"]), f(truth[p + "left_hand_pose"]),
                    f(truth[p + "right_hand_pose"]),
                    f(truth[p + "jaw_pose"]), f(truth[p + "transl"]))
        rest = model.rest_joints(f(truth[p + "betas"])[None])
        return kp.POSE_MAP.points(out.transforms, rest).numpy().astype(np.float64)


def _tilt(points: np.ndarray, degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    r = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    return points @ r.T


def _tilt_error_deg(lifted: np.ndarray, true: np.ndarray, weights: np.ndarray) -> float:
    """Median over frames of the rotation about the camera's x axis (degrees) taking the lifted
    body (T, M, 3) onto the true one (T, M, 3), each about its weighted centroid (Kabsch)."""
    out = []
    for a, b, w in zip(lifted, true, weights, strict=True):
        if w.sum() <= 0:
            continue
        ca = a - (w[:, None] * a).sum(0) / w.sum()
        cb = b - (w[:, None] * b).sum(0) / w.sum()
        u, _, vt = np.linalg.svd((w[:, None] * ca).T @ cb)
        d = np.sign(np.linalg.det(vt.T @ u.T))
        r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T                     # lifted -> true
        out.append(math.degrees(math.atan2(r[2, 1], r[2, 2])))
    return float(np.median(out)) if out else float("nan")


def _lifting(fit_body_module: object) -> tuple[list, object]:
    """Wrap the fitter's focal step to keep each person's lifted markers and seen frames:
    returns (the list it fills with (markers (T, M, 3), seen (T,)), the original function)."""
    kept: list = []
    original = fit_body_module._estimate_focal  # type: ignore[attr-defined]

    def wrapped(people: list, *args: object, **kwargs: object) -> F.FocalEstimate:
        kept.extend((p.markers_np(with_transl=False), p.seen.copy()) for p in people)
        return original(people, *args, **kwargs)
    fit_body_module._estimate_focal = wrapped  # type: ignore[attr-defined]
    return kept, original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", default="data/samples")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_body_model("mannequin-x")
    quiet = Progress("quiet")
    rows = []
    for folder in sorted(Path(args.samples).iterdir()):
        if not (folder / "ground_truth.npz").is_file() or (args.only and folder.name not in args.only):
            continue
        with np.load(folder / "ground_truth.npz") as npz:
            truth = {k: npz[k] for k in npz.files}
        with open_footage(folder / "footage.mp4") as footage:
            keypoints = detect_keypoints(footage, DetectOptions(), quiet)  # type: ignore[arg-type]
        size = tuple(int(v) for v in keypoints.image_size)
        center = np.array(size, np.float64) / 2
        true_f = float(truth["camera_focal_px"][0])
        logs = np.linspace(math.log(F.focal_from_fov(size[0], 120.0)),
                           math.log(F.focal_from_fov(size[0], 10.0)), 48)
        arrays = keypoints.to_arrays()
        sets: dict[str, list] = {k: [] for k in ("true3d+true2d", "true3d+det2d", "tilt-3", "tilt+3",
                                                 "lifted")}
        lifted, original = _lifting(fit_body)
        try:
            _, clip = fit_keypoints(keypoints, FitOptions(), quiet, model)
        finally:
            fit_body._estimate_focal = original  # type: ignore[attr-defined]
        tilts = []
        for j in range(len(keypoints.people)):
            det = np.asarray(arrays[f"p{j}/body_2d"], np.float64)[:, BODY_MAP.landmarks]
            conf = np.asarray(arrays[f"p{j}/body_conf"], np.float64)[:, BODY_MAP.landmarks] * BODY_MAP.weights
            conf = np.where(np.isfinite(det).all(-1), conf, 0.0)
            det = np.nan_to_num(det)
            best = None
            for i in range(len(truth["person_ids"])):   # the true person nearest the detections
                pts = true_markers(model, truth, i)
                seen = (conf.sum(1) > 0) & truth[f"p{i}/valid"].astype(bool)
                if seen.any():
                    d = float(np.linalg.norm(F.project(pts[seen], true_f, center) - det[seen],
                                             axis=-1).mean())
                    best = (d, pts, seen) if best is None or d < best[0] else best
            if best is None:
                continue
            _, pts, seen = best
            rel = pts[seen] - pts[seen].mean(1, keepdims=True)
            w = conf[seen]
            markers, fitted = lifted[j]
            both = seen & fitted
            sets["lifted"].append((markers[fitted], det[fitted], conf[fitted]))
            tilts.append(_tilt_error_deg(markers[both], pts[both], conf[both]))
            sets["true3d+true2d"].append((rel, F.project(pts[seen], true_f, center), w))
            sets["true3d+det2d"].append((rel, det[seen], w))
            sets["tilt-3"].append((_tilt(rel, -3.0), det[seen], w))
            sets["tilt+3"].append((_tilt(rel, 3.0), det[seen], w))
        row = {"sample": folder.name, "true": true_f}
        for key, bodies in sets.items():
            row[key] = math.exp(F._profile_minimum(bodies, center, logs)) if bodies else float("nan")
        row["upright"] = row["hor_px"] = float("nan")
        if keypoints.horizon.any() and sets["lifted"]:
            upright = F.Upright(keypoints.horizon, tuple(fit_body.SHOULDER_ROWS), tuple(fit_body.HIP_ROWS),
                                select_focal=F.focal_from_fov(size[0], F.PRIOR_FOV_DEG))
            row["upright"] = math.exp(F._profile_minimum(sets["lifted"], center, logs, upright))
            k = np.array([[true_f, 0, center[0]], [0, true_f, center[1]], [0, 0, 1]])
            line = np.linalg.inv(k).T @ truth["floor_plane_cam"][:3]
            row["hor_px"] = row_at(keypoints.horizon, center[0]) - row_at(line, center[0])
        row["tilt"] = float(np.nanmedian(tilts)) if tilts else float("nan")
        row["scene"] = keypoints.scene_focal[0] or float("nan")
        row["scene_std"] = 100 * keypoints.scene_focal[1] if keypoints.scene_focal[0] else float("nan")
        row["pipeline"] = clip.focal.focal_px
        row["std"] = clip.focal.std_px
        rows.append(row)
    keys = ["true", "true3d+true2d", "true3d+det2d", "tilt-3", "tilt+3", "lifted", "tilt", "upright", "hor_px",
            "scene", "scene_std", "pipeline", "std"]
    print(f"{'sample':18s} " + " ".join(f"{k:>13s}" for k in keys) + "   (px, tilt deg; pipeline error %)")
    for r in rows:
        err = 100 * abs(r["pipeline"] - r["true"]) / r["true"]
        cells = (f"{r[k]:13.1f}" if k in ("tilt", "hor_px", "scene_std") else f"{r[k]:13.0f}" for k in keys)
        print(f"{r['sample']:18s} " + " ".join(cells) + f"   {err:.1f} %")


if __name__ == "__main__":
    main()
