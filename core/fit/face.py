"""Jaw opening from face-mesh landmarks (MediaPipe Face Mesh, 468 points).

The body model has no learned face; the one face rotation the landmarks support
well is the jaw: mouth opening (inner lips 13/14) relative to face height
(forehead 10 to chin 152) maps to a jaw rotation about the model x axis
(positive opens the mouth). Expression coefficients stay zero.
"""

from __future__ import annotations

import numpy as np

UPPER_LIP, LOWER_LIP, FOREHEAD, CHIN = 13, 14, 10, 152
CLOSED_RATIO = 0.02
"""Inner-lip gap / face height of a closed mouth."""
RADIANS_PER_RATIO = 2.0
MAX_JAW_RAD = 0.45


def jaw_from_face(face_2d: np.ndarray | None, face_conf: np.ndarray, num_frames: int) -> np.ndarray:
    """(T, 468, 3) px landmarks and (T,) confidence -> (T, 3) jaw axis-angle (zeros where unknown)."""
    jaw = np.zeros((num_frames, 3), np.float32)
    if face_2d is None or face_2d.shape[0] != num_frames or face_2d.shape[1] <= CHIN:
        return jaw
    gap = np.linalg.norm(face_2d[:, LOWER_LIP, :2] - face_2d[:, UPPER_LIP, :2], axis=-1)
    height = np.linalg.norm(face_2d[:, CHIN, :2] - face_2d[:, FOREHEAD, :2], axis=-1)
    ok = (face_conf > 0.3) & (height > 5.0) & np.isfinite(gap) & np.isfinite(height)
    ratio = np.where(ok, gap / np.where(ok, height, 1.0), 0.0)
    jaw[:, 0] = np.where(ok, np.clip((ratio - CLOSED_RATIO) * RADIANS_PER_RATIO, 0.0, MAX_JAW_RAD), 0.0)
    return jaw
