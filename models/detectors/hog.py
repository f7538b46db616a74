"""OpenCV's HOG + linear SVM pedestrian detector (upright, whole people).

OpenCV 5 dropped ``cv2.HOGDescriptor`` from its main modules (the worker pins 4.x for it);
:func:`hog_available` says whether this OpenCV has it, and the detection code skips the cue
(with a note) when it does not.
"""

from __future__ import annotations

import cv2
import numpy as np


WINDOW = (64, 128)
"""Detection window (width, height) px of the default people detector."""


def hog_available() -> bool:
    """True when this OpenCV build ships the HOG people detector."""
    return hasattr(cv2, "HOGDescriptor") and hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector")


class HogDetector:
    """People in an image, as x0,y0,x1,y1 px boxes with SVM scores.

    Args:
        max_width: the image is shrunk to at most this width first (speed; the detector's
            window is 64x128 px, so people shorter than about 128 px at that size are missed).
        min_score: SVM margin threshold.
    """

    def __init__(self, max_width: int = 640, min_score: float = 0.3) -> None:
        self.max_width = max_width
        self.min_score = min_score
        if not hog_available():
            from core.errors import ModelFileError

            raise ModelFileError(f"OpenCV {cv2.__version__} has no HOG people detector")
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, image_bgr: np.ndarray) -> list[tuple[float, np.ndarray]]:
        """(score, box (4,) px) per person, best first."""
        h, w = image_bgr.shape[:2]
        factor = min(1.0, self.max_width / float(w))
        small = image_bgr if factor == 1.0 else cv2.resize(image_bgr, (int(w * factor), int(h * factor)),
                                                            interpolation=cv2.INTER_AREA)
        if small.shape[0] < WINDOW[1] + 16 or small.shape[1] < WINDOW[0] + 16:
            return []  # smaller than the detection window (OpenCV crashes on such images)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        rects, weights = self._hog.detectMultiScale(gray, winStride=(8, 8), padding=(8, 8), scale=1.08)
        out = []
        for (x, y, rw, rh), score in zip(np.asarray(rects).reshape(-1, 4), np.asarray(weights).reshape(-1)):
            if score >= self.min_score:
                out.append((float(score), np.array([x, y, x + rw, y + rh], dtype=np.float64) / factor))
        return sorted(out, key=lambda item: -item[0])
