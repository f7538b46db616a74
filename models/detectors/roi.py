"""Rotated square regions of an image and the fixed-size crops they cut.

A :class:`Roi` is a square of side ``size`` pixels centred at ``(cx, cy)`` pixels,
rotated by ``rotation`` radians. Its local axes in the image are
``x_axis = (cos r, sin r)`` and ``y_axis = (-sin r, cos r)`` (pixels: x right, y down),
so ``rotation = 0`` is an upright, axis-aligned square. Regions may extend beyond the
image; crops are padded with black there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Roi:
    """Rotated square region: centre and side in pixels, rotation in radians."""

    cx: float
    cy: float
    size: float
    rotation: float = 0.0

    @property
    def axes(self) -> np.ndarray:
        """(2,2) rows: the region's x axis and y axis as unit vectors in image pixels."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        return np.array([[c, s], [-s, c]], dtype=np.float64)

    def crop_to_image(self, side: int) -> np.ndarray:
        """(2,3) affine taking pixel coordinates of a ``side``x``side`` crop to image pixels."""
        ax = self.axes * (self.size / side)
        origin = np.array([self.cx, self.cy]) - 0.5 * side * (ax[0] + ax[1])
        return np.column_stack([ax[0], ax[1], origin])

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """(N,2) points in unit region coordinates (0..1 across the square) -> (N,2) image px."""
        local = (np.asarray(points, dtype=np.float64) - 0.5) * self.size
        return local @ self.axes + np.array([self.cx, self.cy])

    def rotate_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """(N,2) or (N,3) vectors in region axes -> image-aligned axes (z untouched)."""
        out = np.array(vectors, dtype=np.float64, copy=True)
        out[:, :2] = vectors[:, :2] @ self.axes
        return out

    def box(self) -> np.ndarray:
        """(4,) axis-aligned bounding box x0,y0,x1,y1 px of the rotated square."""
        corners = self.to_image(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64))
        return np.concatenate([corners.min(axis=0), corners.max(axis=0)])

    def scaled(self, factor: float) -> "Roi":
        return Roi(self.cx, self.cy, self.size * factor, self.rotation)

    @staticmethod
    def from_box(box: np.ndarray | tuple[float, float, float, float], scale: float = 1.0) -> "Roi":
        """Upright square around an x0,y0,x1,y1 box (side = longer edge x ``scale``)."""
        x0, y0, x1, y1 = (float(v) for v in box)
        return Roi(0.5 * (x0 + x1), 0.5 * (y0 + y1), max(x1 - x0, y1 - y0, 1.0) * scale, 0.0)

    @staticmethod
    def from_alignment(center: np.ndarray, scale_point: np.ndarray, scale: float = 1.25) -> "Roi":
        """BlazePose convention: square centred on ``center`` (hip centre), side
        ``2 * |scale_point - center| * scale``, rotated so that ``scale_point`` is straight up."""
        d = np.asarray(scale_point, dtype=np.float64) - np.asarray(center, dtype=np.float64)
        length = float(np.hypot(d[0], d[1]))
        rotation = math.atan2(d[0], -d[1]) if length > 1e-6 else 0.0
        return Roi(float(center[0]), float(center[1]), max(2.0 * length * scale, 1.0), rotation)


def cut(image: np.ndarray, roi: Roi, side: int, out: np.ndarray | None = None) -> np.ndarray:
    """(side,side,C) crop of ``image`` (H,W,C) inside ``roi``, bilinear, black outside the image;
    written into ``out`` (same shape and dtype) when given."""
    matrix = roi.crop_to_image(side)
    return cv2.warpAffine(image, matrix, (side, side), dst=out, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,M) intersection over union of x0,y0,x1,y1 boxes ``a`` (N,4) and ``b`` (M,4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
