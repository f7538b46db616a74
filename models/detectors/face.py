"""Face detection with mediapipe's two BlazeFace networks, run directly (no mediapipe graph).

``full_range=True``: ``face_detection_full_range_sparse.tflite`` (192 px input, faces up to
about 5 m); ``False``: ``face_detection_short_range.tflite`` (128 px input, larger faces).
Both miss faces that are small in their input, so callers run them on regions (tiles) of the
frame as well as on the whole frame. Decoding (SSD anchors, sigmoid scores, weighted
non-maximum suppression) is BlazePose's (:mod:`models.detectors.blazepose`), with the face
models' anchor layouts: full range one 48x48 grid, one anchor per cell (2304); short range
16x16 with 2 anchors and 8x8 with 6 per cell (896).

Run through the mediapipe solution instead, each call cost a graph round trip: measured
7.6 / 3.3 ms CPU per region (full / short range) against 4.5 / 1.5 ms for the networks alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.detectors._tflite import CropInput, load_interpreter
from models.detectors.blazepose import decode, ssd_anchors, weighted_nms, whole_frame
from models.detectors.roi import Roi

# model file, input side px, anchor strides, anchors per layer and cell
_MODELS = {True: ("face_detection/face_detection_full_range_sparse.tflite", 192, (4,), 1),
           False: ("face_detection/face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2)}
NUM_KEYPOINTS = 6  # eyes, nose tip, mouth, ear tragions


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
        num_threads: TFLite threads.
    """

    def __init__(self, min_score: float = 0.5, full_range: bool = True, num_threads: int = 1) -> None:
        relative, self.side, strides, per_cell = _MODELS[bool(full_range)]
        self.min_score = min_score
        self._interpreter = load_interpreter(relative, num_threads)
        self._input = CropInput(self._interpreter, self._interpreter.get_input_details()[0]["index"], self.side,
                                2.0 / 255.0, -1.0)
        outputs = self._interpreter.get_output_details()
        # boxes (1,N,16) and scores (1,N,1); the two models name them differently
        self._boxes_out = next(o["index"] for o in outputs if o["shape"][-1] == 4 + 2 * NUM_KEYPOINTS)
        self._scores_out = next(o["index"] for o in outputs if o["shape"][-1] == 1)
        self.anchors = ssd_anchors(self.side, strides, per_cell)

    def detect(self, image_rgb: np.ndarray, roi: Roi | None = None) -> list[FaceDetection]:
        """Faces in an (H,W,3) uint8 RGB image (letterboxed whole), or only inside the upright region ``roi``."""
        if roi is None:
            roi = whole_frame(image_rgb.shape[1], image_rgb.shape[0])
        self._input.fill(image_rgb, roi)
        self._interpreter.invoke()
        raw_boxes = self._interpreter.get_tensor(self._boxes_out)[0]
        raw_scores = self._interpreter.get_tensor(self._scores_out)[0]
        scores, boxes, kps = decode(raw_boxes, raw_scores, self.anchors, self.min_score, self.side, NUM_KEYPOINTS)
        out = []
        for score, box, _kps in weighted_nms(scores, boxes, kps):
            corners = roi.to_image(box.reshape(2, 2))
            out.append(FaceDetection(score, np.concatenate([corners.min(axis=0), corners.max(axis=0)])))
        return out

    def close(self) -> None:
        """Nothing to release (kept so callers can treat every detector alike)."""
