"""Hand landmark network (``hand_landmark_lite.tflite`` / ``_full``) on a region of an image.

The landmark half of mediapipe's Hands graph, run directly: the caller chooses the region
(around the body's wrist, or from the previous frame's hand landmarks), so no palm detector
runs. Works for left and right hands alike (the caller decides the side from the body).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.detectors._tflite import CropNetwork
from models.detectors.roi import Roi

INPUT_SIDE = 224
NUM_HAND = 21
WRIST, MIDDLE_MCP = 0, 9
PALM = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)  # wrist, thumb base, finger bases


@dataclass
class HandLandmarks:
    """One hand from one region.

    Attributes:
        presence: 0..1, the network's score that a hand is in the region.
        points_2d: (21,2) px in the full image.
        depth: (21,) relative depth, px scale (wrist-relative, as mediapipe's z).
        world: (21,3) metres, hand-centred, image-aligned axes (x right, y down).
        roi: the region they came from.
        right_score: 0..1, the network's score that this is the person's right hand (on an
            unmirrored camera image: measured 0.0 for left-side and about 1.0 for right-side
            hands on the default sample).
    """

    presence: float
    points_2d: np.ndarray
    depth: np.ndarray
    world: np.ndarray
    roi: Roi
    right_score: float = 0.5

    def next_roi(self) -> Roi:
        """The region for the next frame: rotated so wrist -> middle knuckle points up, twice
        the palm's extent (palm and finger-base points: stable whether fingers are open or
        curled), shifted a little towards the fingers."""
        pts = self.points_2d
        aligned = Roi.from_alignment(pts[WRIST], pts[MIDDLE_MCP], scale=1.0)
        axes = aligned.axes
        local = pts[list(PALM)] @ axes.T  # coordinates along the region's x and y axes
        lo, hi = local.min(axis=0), local.max(axis=0)
        side = 2.0 * max(float((hi - lo).max()), 4.0)
        centre = (0.5 * (lo + hi)) @ axes - 0.1 * side * axes[1]
        return Roi(float(centre[0]), float(centre[1]), side, aligned.rotation)


class HandLandmarkModel:
    """Runs the hand landmark network on a region; one instance serves any number of hands.

    Args:
        complexity: 0 lite (default, about half the time) or 1 full.
        num_threads: TFLite threads.
    """

    def __init__(self, complexity: int = 0, num_threads: int = 1) -> None:
        name = "hand_landmark/hand_landmark_full.tflite" if complexity else "hand_landmark/hand_landmark_lite.tflite"
        self._net = CropNetwork(name, INPUT_SIDE, num_threads)

    def run(self, image_rgb: np.ndarray, roi: Roi) -> HandLandmarks:
        """The hand in ``roi`` of ``image_rgb`` (H,W,3 uint8 RGB)."""
        self._net.run(image_rgb, roi)
        raw = self._net.output("Identity").reshape(NUM_HAND, 3).astype(np.float64)
        presence = float(self._net.output("Identity_1").reshape(-1)[0])
        world = self._net.output("Identity_3").reshape(NUM_HAND, 3).astype(np.float64)
        right = float(self._net.output("Identity_2").reshape(-1)[0])
        return HandLandmarks(presence=presence, points_2d=roi.to_image(raw[:, :2] / INPUT_SIDE),
                             depth=raw[:, 2] * (roi.size / INPUT_SIDE), world=roi.rotate_vectors(world), roi=roi,
                             right_score=right)
