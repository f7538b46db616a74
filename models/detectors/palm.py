"""Palm detector (``palm_detection_full.tflite`` / ``_lite`` from the mediapipe wheel): finds hands
without a body.

The detection half of mediapipe's Hands graph, run directly. Input 192 px, RGB 0..1; SSD anchors
(strides 8, 16, 16, 16; two anchors per layer and cell; 2016 in all), 18 regression values per
anchor (palm box cx, cy, w, h, then 7 keypoints x, y: wrist centre, index, middle, ring, pinky
knuckles, thumb base, thumb joint). Decoding and non-maximum suppression are BlazePose's
(:mod:`models.detectors.blazepose`). Results are in image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.detectors._tflite import CropInput, load_interpreter
from models.detectors.blazepose import decode, ssd_anchors, weighted_nms, whole_frame
from models.detectors.roi import Roi

INPUT_SIDE = 192
STRIDES = (8, 16, 16, 16)
NUM_KEYPOINTS = 7
WRIST_KP, MIDDLE_KP = 0, 2


@dataclass(frozen=True)
class PalmDetection:
    """One palm found by the detector.

    Attributes:
        score: 0..1.
        box: (4,) x0,y0,x1,y1 px of the palm box (upright, image axes).
        keypoints: (7,2) px: wrist centre, index/middle/ring/pinky knuckles, thumb base, thumb joint.
    """

    score: float
    box: np.ndarray
    keypoints: np.ndarray

    def roi(self) -> Roi:
        """The whole-hand region the hand landmark network wants (mediapipe's palm-to-hand rule:
        rotated so wrist -> middle knuckle points up, shifted half the palm box towards the fingers,
        side 2.6 x the palm box's longer edge)."""
        aligned = Roi.from_alignment(self.keypoints[WRIST_KP], self.keypoints[MIDDLE_KP], scale=1.0)
        # the palm box is upright in the image; mediapipe measures it in the image too
        w, h = float(self.box[2] - self.box[0]), float(self.box[3] - self.box[1])
        centre = 0.5 * (self.box[:2] + self.box[2:]) - 0.5 * h * aligned.axes[1]
        return Roi(float(centre[0]), float(centre[1]), 2.6 * max(w, h, 1.0), aligned.rotation)


class PalmDetector:
    """Runs the palm detection network on regions of an image (default the letterboxed frame).

    Args:
        complexity: 0 lite or 1 full (default; finds smaller and half-turned palms).
        min_score: detection threshold (0..1).
        num_threads: TFLite threads.
    """

    def __init__(self, complexity: int = 1, min_score: float = 0.5, num_threads: int = 1) -> None:
        self.min_score = min_score
        name = f"palm_detection/palm_detection_{'full' if complexity else 'lite'}.tflite"
        self._interpreter = load_interpreter(name, num_threads)
        index = self._interpreter.get_input_details()[0]["index"]
        self._input = CropInput(self._interpreter, index, INPUT_SIDE, 1.0 / 255.0)
        outputs = {o["name"]: o["index"] for o in self._interpreter.get_output_details()}
        self._boxes_out, self._scores_out = outputs["Identity"], outputs["Identity_1"]
        self.anchors = ssd_anchors(INPUT_SIDE, STRIDES)

    def detect(self, image_rgb: np.ndarray, region: Roi | None = None) -> list[PalmDetection]:
        """Palms in ``region`` (upright; default the whole frame) of ``image_rgb`` (H,W,3 uint8 RGB),
        best first."""
        roi = region or whole_frame(image_rgb.shape[1], image_rgb.shape[0])
        self._input.fill(image_rgb, roi)
        self._interpreter.invoke()
        raw_boxes = self._interpreter.get_tensor(self._boxes_out)[0]
        raw_scores = self._interpreter.get_tensor(self._scores_out)[0]
        scores, boxes, kps = decode(raw_boxes, raw_scores, self.anchors, self.min_score, INPUT_SIDE,
                                    NUM_KEYPOINTS)
        if len(scores) == 0:
            return []
        corners = roi.to_image(boxes.reshape(-1, 2)).reshape(-1, 2, 2)
        boxes_px = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
        kps_px = roi.to_image(kps.reshape(-1, 2)).reshape(-1, NUM_KEYPOINTS, 2)
        return [PalmDetection(s, b, k) for s, b, k in weighted_nms(scores, boxes_px, kps_px)]
