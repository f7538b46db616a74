"""Foot contact and the ground plane of a clip.

A foot is planted when its lowest markers (heel, toe) barely move and sit near
the lowest level that foot reaches; while planted it should stay put and rest on
the ground. The ground is one plane per clip (static camera): fitted to the
planted feet when they spread over an area, else taken perpendicular to the
people's average "up" direction through the planted feet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

PLANTED_SPEED_M_S = 0.3
"""A foot moving slower than this (m/s) may be planted."""
PLANTED_HEIGHT_M = 0.06
"""...and within this height above the ground (metres)."""


@dataclass(frozen=True)
class GroundPlane:
    """Points x on the ground satisfy ``normal . x = offset``; ``normal`` (3,) points up
    (camera frame: roughly -y), unit length; ``offset`` metres."""

    normal: np.ndarray
    offset: float

    def height(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) -> (...) signed height above the plane, metres."""
        return points @ self.normal - self.offset


def fit_ground_plane(feet: np.ndarray, up_hint: np.ndarray, planted: np.ndarray | None = None,
                     min_spread_m: float = 0.4) -> GroundPlane:
    """Ground plane from foot sole points.

    Args:
        feet: (T, F, 3) lowest foot points (camera frame, metres), F feet per frame.
        up_hint: (3,) the bodies' mean up direction in the camera frame.
        planted: (T, F) bool, feet known to be planted (None: use the lowest 30 %).
        min_spread_m: a least-squares plane is trusted when the planted points spread at
            least this far in both ground directions.
    """
    up = up_hint / max(np.linalg.norm(up_hint), 1e-9)
    pts = feet.reshape(-1, 3)
    mask = np.isfinite(pts).all(1)
    if planted is not None:
        mask &= planted.reshape(-1)
    if mask.sum() < 3:
        heights = pts[np.isfinite(pts).all(1)] @ up
        return GroundPlane(up, float(np.min(heights)) if heights.size else 0.0)
    if planted is None:
        h = pts @ up
        mask &= h <= np.quantile(h[mask], 0.3)
    sel = pts[mask]
    centre = sel.mean(0)
    _, s, vt = np.linalg.svd(sel - centre, full_matrices=False)
    normal = vt[-1] if vt[-1] @ up > 0 else -vt[-1]
    spread = s[:2] / np.sqrt(len(sel))
    if spread.min() >= min_spread_m / 4 and normal @ up > np.cos(np.radians(30)):
        return GroundPlane(normal, float(centre @ normal))
    return GroundPlane(up, float(np.median(sel @ up)))


def detect_planted(feet: np.ndarray, ground: GroundPlane, fps: float) -> np.ndarray:
    """(T, F, 3) lowest foot points -> (T, F) bool planted (slow and near the ground)."""
    speed = np.zeros(feet.shape[:2])
    if feet.shape[0] > 1:
        step = np.linalg.norm(np.diff(feet, axis=0), axis=-1) * fps      # (T-1, F) m/s
        speed[0], speed[-1] = step[0], step[-1]
        speed[1:-1] = np.minimum(step[:-1], step[1:])
    height = ground.height(feet)
    return (speed < PLANTED_SPEED_M_S) & (height < PLANTED_HEIGHT_M)


def contact_loss(feet: Tensor, planted: Tensor, normal: Tensor, offset: float) -> Tensor:
    """Planted feet stay put and on the ground; no foot goes under it.

    Args:
        feet: (T, F, K, 3) foot markers (camera frame, metres), K points per foot.
        planted: (T, F) float 0/1.
        normal: (3,) ground normal (up); offset: plane offset.

    Returns: scalar.
    """
    loss = feet.new_zeros(())
    if feet.shape[0] > 1:
        both = planted[1:] * planted[:-1]
        loss = loss + (both[..., None, None] * (feet[1:] - feet[:-1]) ** 2).sum()
    height = feet @ normal - offset                                 # (T, F, K)
    lowest = height.min(-1).values
    loss = loss + (planted * lowest**2).sum() + (torch.relu(-height) ** 2).sum()
    return loss
