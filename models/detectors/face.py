"""Face detection with mediapipe's two offline face detectors.

``model_selection=1`` (full range, faces up to about 5 m) and ``model_selection=0``
(short range, larger faces). Both miss faces that are small in their input, so callers run
them on regions (tiles) of the frame as well as on the whole frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.detectors.roi import Roi, cut


@dataclass(frozen=True)
class FaceDetection:
    """A face: score 0..1, box (4,) x0,y0,x1,y1 px."""

    score: float
    box: np.ndarray


class FaceDetector:
    """Faces in image pixels.

    Args:
        min_score: detection threshold 0..1.
        full_range: True for the full-range model, False for the short-range one.
    """

    def __init__(self, min_score: float = 0.5, full_range: bool = True) -> None:
        import mediapipe as mp

        self._solution = mp.solutions.face_detection.FaceDetection(model_selection=1 if full_range else 0,
                                                                   min_detection_confidence=min_score)

    def detect(self, image_rgb: np.ndarray, roi: Roi | None = None) -> list[FaceDetection]:
        """Faces in an (H,W,3) uint8 RGB image, or only inside the upright region ``roi``."""
        if roi is not None:
            side = int(min(max(round(roi.size), 64), 640))
            crop = cut(image_rgb, roi, side)
        else:
            crop = image_rgb
        h, w = crop.shape[:2]
        result = self._solution.process(np.ascontiguousarray(crop))
        out = []
        for det in result.detections or []:
            b = det.location_data.relative_bounding_box
            corners = np.array([[b.xmin, b.ymin], [b.xmin + b.width, b.ymin + b.height]])
            if roi is not None:
                corners = roi.to_image(corners)
            else:
                corners = corners * np.array([w, h])
            out.append(FaceDetection(float(det.score[0]), corners.reshape(4)))
        return out

    def close(self) -> None:
        self._solution.close()
