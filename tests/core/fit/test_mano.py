"""The hands-only MANO fit (core/fit/mano.py) recovers a known hand from its own landmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.fit.mano import fit_hand
from models.body import load_hand_model
from models.keypoints import MANO_HAND_MAP
from models.smplx_files import write_mano_pkl


def test_fit_recovers_a_known_hand_from_its_landmarks(tmp_path: Path) -> None:
    """Landmarks made by a posed MANO hand (2D through the camera, wrist-relative 3D): the fit lands
    within 2 px and 8 mm of them (measured 1.1 px, 4.2 mm), keeps one shape, and an unseen frame is
    interpolated and marked not valid."""
    write_mano_pkl(tmp_path / "MANO_LEFT.pkl", side="left", seed=1)
    model = load_hand_model(str(tmp_path), "left")
    rng = np.random.default_rng(3)
    t = 8
    orient = np.tile(rng.normal(0, 0.6, 3), (t, 1)) + np.linspace(0, 0.3, t)[:, None]
    pose = np.tile(rng.normal(0, 0.15, (15, 3)), (t, 1, 1))
    transl = np.array([0.05, -0.02, 0.5]) + np.linspace(0, 0.05, t)[:, None]
    betas = rng.normal(0, 0.5, 10)
    f32 = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731

    def landmarks(b, o, p, tr) -> np.ndarray:
        with torch.no_grad():
            out = model(f32(b).expand(t, 10), f32(o), f32(p), f32(tr))
            return MANO_HAND_MAP.points(out.transforms, model.rest_joints(f32(b).expand(t, 10))).numpy()

    points = MANO_HAND_MAP.scatter(landmarks(betas, orient, pose, transl), 21)  # (T,21,3)
    focal, center = 600.0, np.array([320.0, 240.0])
    uv = points[..., :2] / points[..., 2:] * focal + center
    world = points - points[:, :1]
    presence = np.ones(t)
    presence[5] = 0.0
    uv[5] = np.nan
    world[5] = np.nan
    fit = fit_hand(model, uv, world, presence, focal, center, smoothing=0.0)
    assert fit.valid.tolist() == [True] * 5 + [False] + [True] * 2
    assert fit.betas.shape == (10,) and np.isfinite(fit.transl).all() and np.isfinite(fit.hand_pose).all()
    got = MANO_HAND_MAP.scatter(landmarks(fit.betas, fit.global_orient, fit.hand_pose, fit.transl), 21)
    seen = fit.valid
    got_uv = got[..., :2] / got[..., 2:] * focal + center
    assert np.linalg.norm(got_uv - uv, axis=-1)[seen].mean() < 2.0
    assert np.linalg.norm(got - points, axis=-1)[seen].mean() < 0.008
    assert fit.residual_px < 2.0
    # the unseen frame lies between its neighbours
    assert np.all(np.abs(fit.transl[5] - 0.5 * (fit.transl[4] + fit.transl[6])) < 0.01)


def test_no_frames_with_the_hand_gives_a_neutral_invalid_hand(tmp_path: Path) -> None:
    write_mano_pkl(tmp_path / "MANO_RIGHT.pkl", side="right")
    model = load_hand_model(str(tmp_path), "right")
    fit = fit_hand(model, np.full((4, 21, 2), np.nan), np.full((4, 21, 3), np.nan), np.zeros(4), 500.0,
                   np.array([100.0, 100.0]))
    assert not fit.valid.any() and fit.hand_pose.shape == (4, 15, 3) and np.isfinite(fit.transl).all()
