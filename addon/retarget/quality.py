"""Retarget quality: foot sliding and end-effector error (numpy only).

Positions are world-space metres, (T,K,3), Blender's Z up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UP = 2  # Blender world: z up


def contact_mask(points: np.ndarray, fps: float, height_tol: float = 0.03,
                 speed_tol: float = 0.3) -> np.ndarray:
    """Frames where foot points touch the ground: (T,K) bool.

    Args:
        points: (T,K,3) foot points (ankles, toes), metres.
        fps: frames per second.
        height_tol: metres above the point's lowest height still counted as contact.
        speed_tol: metres per second; faster points are in the air (swing).
    """
    height = points[..., UP] - points[..., UP].min(axis=0, keepdims=True)
    speed = np.zeros(points.shape[:2])
    if len(points) > 1:
        step = np.linalg.norm(np.diff(points, axis=0), axis=-1) * fps
        speed[0], speed[-1] = step[0], step[-1]
        speed[1:-1] = 0.5 * (step[1:] + step[:-1])
    return (height < height_tol) & (speed < speed_tol)


def foot_slide(points: np.ndarray, contact: np.ndarray, fps: float) -> float:
    """Mean horizontal speed (m/s) of foot points between consecutive contact frames.

    Args:
        points: (T,K,3) metres; contact: (T,K) bool (from the source); fps: frames per second.

    Returns:
        Mean over (frame pair, point) where both frames are in contact; 0 when none.
    """
    horizontal = np.delete(points, UP, axis=-1)
    step = np.linalg.norm(np.diff(horizontal, axis=0), axis=-1) * fps   # (T-1,K)
    both = contact[1:] & contact[:-1]
    return float(step[both].mean()) if both.any() else 0.0


def end_effector_error(source: np.ndarray, target: np.ndarray, source_origin: np.ndarray,
                       target_origin: np.ndarray, source_height: float, target_height: float) -> np.ndarray:
    """Per-frame, per-effector position error normalised by body height: (T,K).

    Each body's points are taken relative to its own rest root (``*_origin``, (3,)) and
    divided by its height, so a faithful retarget onto a bigger character scores 0.
    """
    a = (source - source_origin) / source_height
    b = (target - target_origin) / target_height
    return np.linalg.norm(a - b, axis=-1)


@dataclass
class QualityReport:
    """Numbers from :func:`compare`."""

    slide_source: float          # m/s, source feet in contact
    slide_target: float          # m/s, target feet on the same frames
    slide_source_norm: float     # leg lengths per second
    slide_target_norm: float
    effector_mean: float         # fraction of body height
    effector_max: float
    contact_fraction: float      # share of (frame, foot point) in contact

    def lines(self) -> list[str]:
        return [f"foot slide: source {self.slide_source * 1000:.1f} mm/s ({self.slide_source_norm:.4f} leg/s), "
                f"target {self.slide_target * 1000:.1f} mm/s ({self.slide_target_norm:.4f} leg/s), "
                f"contact {self.contact_fraction:.0%}",
                f"end effectors: mean {self.effector_mean:.2%}, max {self.effector_max:.2%} of body height"]


def compare(src_feet: np.ndarray, tgt_feet: np.ndarray, src_effectors: np.ndarray, tgt_effectors: np.ndarray,
            fps: float, src_leg: float, tgt_leg: float, src_origin: np.ndarray, tgt_origin: np.ndarray,
            src_height: float, tgt_height: float) -> QualityReport:
    """Foot sliding (contacts found on the source) and end-effector error of one retarget."""
    contact = contact_mask(src_feet, fps)
    slide_s = foot_slide(src_feet, contact, fps)
    slide_t = foot_slide(tgt_feet, contact, fps)
    err = end_effector_error(src_effectors, tgt_effectors, src_origin, tgt_origin, src_height, tgt_height)
    return QualityReport(slide_s, slide_t, slide_s / src_leg, slide_t / tgt_leg, float(err.mean()),
                         float(err.max()), float(contact.mean()))
