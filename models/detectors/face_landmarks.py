"""Face mesh network (``face_landmark.tflite``, 468 points) on a region of an image.

The landmark half of mediapipe's FaceMesh graph, run directly: the caller chooses the region
(around the body's head landmarks, or from the previous frame's mesh), so no face detector runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.detectors._tflite import CropNetwork, sigmoid
from models.detectors.roi import Roi

INPUT_SIDE = 192
NUM_MESH = 468
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263  # the person's right and left eye corners


@dataclass
class FaceLandmarks:
    """One face mesh from one region.

    Attributes:
        presence: 0..1, the network's score that a face is in the region.
        points: (468,3) x,y px in the full image, z relative depth in px (mediapipe's z).
        roi: the region they came from.
    """

    presence: float
    points: np.ndarray
    roi: Roi

    def next_roi(self) -> Roi:
        """The region for the next frame: rotated so the eyes are level, 1.5x the mesh's extent."""
        pts = self.points[:, :2]
        d = pts[LEFT_EYE_OUTER] - pts[RIGHT_EYE_OUTER]
        rotation = math.atan2(d[1], d[0])
        aligned = Roi(0.0, 0.0, 1.0, rotation)
        local = pts @ aligned.axes.T  # coordinates along the region's x and y axes
        lo, hi = local.min(axis=0), local.max(axis=0)
        centre = 0.5 * (lo + hi) @ aligned.axes
        return Roi(float(centre[0]), float(centre[1]), 1.5 * max(float((hi - lo).max()), 4.0), rotation)


class FaceLandmarkModel:
    """Runs the face mesh network on a region; one instance serves any number of faces."""

    def __init__(self, num_threads: int = 1) -> None:
        self._net = CropNetwork("face_landmark/face_landmark.tflite", INPUT_SIDE, num_threads)

    def run(self, image_rgb: np.ndarray, roi: Roi) -> FaceLandmarks:
        """The face in ``roi`` of ``image_rgb`` (H,W,3 uint8 RGB)."""
        self._net.run(image_rgb, roi)
        raw = self._net.output("conv2d_21").reshape(NUM_MESH, 3).astype(np.float64)
        logit = float(self._net.output("conv2d_31").reshape(-1)[0])
        points = np.empty((NUM_MESH, 3))
        points[:, :2] = roi.to_image(raw[:, :2] / INPUT_SIDE)
        points[:, 2] = raw[:, 2] * (roi.size / INPUT_SIDE)
        return FaceLandmarks(presence=float(sigmoid(logit)), points=points, roi=roi)
