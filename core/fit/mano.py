"""MANO fit of one hand (hands-only capture) to the hand landmark network's output.

Per hand: wrist orientation (T,3), 15 finger joints (T,15,3), translation (T,3) in the camera
frame, and one shape (10,) for the clip, fitted together over the frames where the hand was
found, against

* the 21 2D landmarks through a pinhole camera (focal and centre in px), robust (Geman-McClure
  like ``sqrt(1 + (d / sigma)**2)``), sigma a twentieth of the hand's size in px;
* the network's metric 3D landmarks, wrist-relative (the wrist's depth comes from the 2D alone);
* the finger limits (:func:`core.fit.priors.hand_limits`), a small pull towards the mean hand,
  a shape prior, and frame-to-frame velocity of pose and translation.

Initial guess: the wrist position from the 3D landmarks placed on the 2D ones
(:func:`core.fit.focal.solve_translation`), the wrist orientation from the palm's rest points
rotated onto the network's palm (Kabsch). Afterwards the rotations and translation are smoothed
(:mod:`core.fit.smooth`) and frames without the hand are interpolated (marked not valid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.fit.focal import solve_translation
from core.fit.init import kabsch
from core.fit.optim import Adam
from core.fit.priors import hand_limits, limit_penalty
from core.fit.smooth import fill_gaps, smooth_positions, smooth_rotations
from models.body import HandModel
from models.keypoints import MANO_HAND_MAP
from models.kinematics import matrix_to_axis_angle_np

PALM_LANDMARKS = (0, 5, 9, 13, 17)


@dataclass
class HandFit:
    """One fitted hand over T frames (radians axis-angle, metres, camera frame)."""

    betas: np.ndarray          # (10,)
    global_orient: np.ndarray  # (T,3)
    hand_pose: np.ndarray      # (T,15,3) offsets from the mean hand
    transl: np.ndarray         # (T,3)
    valid: np.ndarray          # (T,) bool: the hand was found
    residual_px: float         # mean 2D distance of the model's landmarks after the fit (found frames)


def fit_hand(model: HandModel, points_2d: np.ndarray, world: np.ndarray, presence: np.ndarray,
             focal_px: float, center: np.ndarray, smoothing: float = 1.0, iterations: int = 150,
             betas: np.ndarray | None = None) -> HandFit:
    """Fit one hand.

    Args:
        model: the MANO model of this hand's side.
        points_2d: (T,21,2) px (NaN where not found); world: (T,21,3) metres, wrist-relative, camera axes;
        presence: (T,) 0..1 (0: not found).
        focal_px, center: camera (px); smoothing: temporal smoothing strength (0 off).
        betas: (10,) a shape to keep (the other hand's, so both hands share one), or None: fit it.
    """
    t = points_2d.shape[0]
    found = presence > 0
    device = model.device
    f32 = lambda a: torch.as_tensor(np.asarray(a, np.float32), device=device)  # noqa: E731
    fixed = betas is not None
    shape = np.zeros(10) if betas is None else np.asarray(betas, np.float64)
    zeros = HandFit(shape, np.zeros((t, 3)), np.zeros((t, 15, 3)), np.tile([0.0, 0.0, 0.5], (t, 1)),
                    found.copy(), float("nan"))
    if not found.any():
        return zeros
    idx = np.nonzero(found)[0]
    n = len(idx)
    rows = MANO_HAND_MAP.landmarks  # model rows -> landmark index
    obs_2d, obs_3d = points_2d[idx][:, rows], world[idx][:, rows]
    # initial guess
    with torch.no_grad():
        betas0 = torch.zeros(1, 10, device=device)
        rest = model(betas0, torch.zeros(1, 3, device=device), torch.zeros(1, 15, 3, device=device),
                     torch.zeros(1, 3, device=device))
        rest_points = MANO_HAND_MAP.points(rest.transforms, model.rest_joints(betas0))[0].cpu().numpy()
        wrist_rest = rest.joints[0, 0].cpu().numpy()
    palm = [int(np.nonzero(rows == lm)[0][0]) for lm in PALM_LANDMARKS]
    orient0 = matrix_to_axis_angle_np(kabsch(rest_points[palm] - wrist_rest, obs_3d[:, palm],
                                             np.ones((n, len(palm)))))
    wrist_cam = solve_translation(obs_3d, obs_2d, np.ones(obs_2d.shape[:2]), focal_px, np.asarray(center))
    wrist_cam = fill_gaps(np.nan_to_num(wrist_cam, nan=0.0), np.isfinite(wrist_cam).all(-1)) \
        if not np.isfinite(wrist_cam).all() else wrist_cam
    transl0 = wrist_cam - wrist_rest  # wrist = J_0 + transl, J_0 untouched by the wrist's rotation
    orient = f32(orient0).requires_grad_(True)
    pose = torch.zeros(n, 15, 3, device=device, requires_grad=True)
    transl = f32(transl0).requires_grad_(True)
    betas = f32(betas).reshape(1, 10) if fixed else torch.zeros(1, 10, device=device)
    betas.requires_grad_(not fixed)
    target_2d, target_3d = f32(obs_2d), f32(obs_3d)
    weights = f32(MANO_HAND_MAP.weights)[None] * f32(presence[idx])[:, None]
    span = np.ptp(obs_2d, axis=1).max(-1)  # (n,) hand size px
    sigma = f32(np.maximum(0.05 * span, 2.0))[:, None]
    limits = f32(hand_limits(model.side))
    mean = model.hand_mean
    cx, cy = float(center[0]), float(center[1])
    params = [orient, pose, transl] + ([] if fixed else [betas])
    optimizer = Adam(params, [0.02] * len(params))
    near = f32(np.diff(idx) == 1)  # consecutive found frames only
    for step in range(iterations):
        optimizer.zero_grad()
        out = model(betas.expand(n, 10), orient, pose, transl)
        points = MANO_HAND_MAP.points(out.transforms, model.rest_joints(betas.expand(n, 10)))  # (n,21,3)
        z = points[..., 2].clamp(min=0.05)
        uv = torch.stack([points[..., 0] / z * focal_px + cx, points[..., 1] / z * focal_px + cy], -1)
        d = ((uv - target_2d) ** 2).sum(-1)
        loss_2d = (weights * (torch.sqrt(1.0 + d / sigma**2) - 1.0)).sum() / n
        rel = points - points[:, :1]
        loss_3d = (weights * ((rel - target_3d) ** 2).sum(-1)).sum() / n / 0.01**2
        loss = loss_2d + 0.1 * loss_3d + 100.0 * limit_penalty(pose + mean, limits) / n
        loss = loss + 0.01 * (pose**2).sum() / n + 0.1 * (betas**2).sum()
        if n > 1:
            vel = ((pose[1:] - pose[:-1]) ** 2).sum((1, 2)) \
                + 100.0 * ((transl[1:] - transl[:-1]) ** 2).sum(-1)
            loss = loss + (near * vel).sum() / n
        loss.backward()
        optimizer.step()
        if step == iterations // 2:
            optimizer.lrs = [0.005] * len(params)
    with torch.no_grad():
        residual = float(torch.sqrt(d).mean())
    full = {"orient": np.zeros((t, 3)), "pose": np.zeros((t, 15, 3)), "transl": np.zeros((t, 3))}
    for key, value in (("orient", orient), ("pose", pose), ("transl", transl)):
        full[key][idx] = value.detach().cpu().numpy()
        full[key] = fill_gaps(full[key], found)
    sigma_frames = 1.0 * smoothing
    return HandFit(betas=betas.detach().cpu().numpy()[0].astype(np.float64),
                   global_orient=smooth_rotations(full["orient"][:, None], sigma_frames)[:, 0],
                   hand_pose=smooth_rotations(full["pose"], sigma_frames),
                   transl=smooth_positions(full["transl"], sigma_frames), valid=found.copy(),
                   residual_px=residual)


__all__ = ["HandFit", "fit_hand"]
