"""BlazePose full landmark model (``pose_landmark_full.tflite``) on a region of an image.

This is the body-landmark half of mediapipe's Pose graph, run directly so that the
caller chooses the region (from a detection, a box prompt, or the previous frame's
landmarks: region tracking, which needs no face and works on people seen from behind).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.detectors._tflite import CropNetwork, sigmoid
from models.detectors.roi import Roi

INPUT_SIDE = 256
NUM_BODY = 33
NUM_ALL = 39  # 33 body + auxiliary (33: hip centre, 34: body scale point, ...)


@dataclass
class BodyLandmarks:
    """Landmarks of one person from one region.

    Attributes:
        presence: 0..1, the model's score that a person is in the region.
        points_2d: (33,2) px in the full image.
        depth: (33,) relative depth, px scale (mediapipe's z, hip-centred).
        world: (33,3) metres, hip-centred, camera-aligned axes (x right, y down, z away).
        confidence: (33,) 0..1 (visibility x presence per landmark).
        roi: region the landmarks came from.
        next_roi: region derived from these landmarks (for the next frame).
    """

    presence: float
    points_2d: np.ndarray
    depth: np.ndarray
    world: np.ndarray
    confidence: np.ndarray
    roi: Roi
    next_roi: Roi

    def box(self, min_confidence: float = 0.3, pad: float = 0.08) -> np.ndarray:
        """(4,) x0,y0,x1,y1 px around the confident landmarks, padded by ``pad`` of its size."""
        pts = self.points_2d[self.confidence >= min_confidence]
        if len(pts) < 2:
            pts = self.points_2d
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        margin = pad * max(float((hi - lo).max()), 1.0)
        return np.concatenate([lo - margin, hi + margin])

    def confident_count(self, threshold: float = 0.5) -> int:
        return int((self.confidence >= threshold).sum())


class PoseLandmarkModel:
    """Runs the landmark network on a region; one instance can serve any number of people."""

    def __init__(self, num_threads: int = 2) -> None:
        self._net = CropNetwork("pose_landmark/pose_landmark_full.tflite", INPUT_SIDE, num_threads)

    def run(self, image_rgb: np.ndarray, roi: Roi) -> BodyLandmarks:
        """Landmarks of the person in ``roi`` of ``image_rgb`` (H,W,3 uint8 RGB)."""
        self._net.run(image_rgb, roi)
        raw = self._net.output("Identity").reshape(NUM_ALL, 5).astype(np.float64)
        flag = float(self._net.output("Identity_1").reshape(-1)[0])
        world = self._net.output("Identity_4").reshape(NUM_ALL, 3)[:NUM_BODY].astype(np.float64)
        unit = raw[:, :2] / INPUT_SIDE
        points = roi.to_image(unit)
        depth = raw[:NUM_BODY, 2] * (roi.size / INPUT_SIDE)
        confidence = sigmoid(raw[:NUM_BODY, 3]) * sigmoid(raw[:NUM_BODY, 4])
        next_roi = Roi.from_alignment(points[33], points[34], scale=1.25)
        return BodyLandmarks(presence=flag, points_2d=points[:NUM_BODY], depth=depth,
                             world=roi.rotate_vectors(world), confidence=confidence,
                             roi=roi, next_roi=next_roi)
