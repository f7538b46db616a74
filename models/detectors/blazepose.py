"""Multi-person BlazePose detector (``pose_detection.tflite`` from the mediapipe wheel).

The legacy mediapipe Pose graph keeps only its best detection; here every detection is
decoded: SSD anchors (strides 8, 16, 32, 32, 32; two anchors per layer and cell; 2254 in
all), 12 regression values per anchor (box cx, cy, w, h, then 4 keypoints x, y: hip centre,
full-body scale point, shoulder centre, upper-body scale point), sigmoid scores, and
weighted non-maximum suppression. The detector runs on any number of regions (the whole
frame letterboxed, and tiles at finer scales for small people); results are in image pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.detectors._tflite import CropInput, load_interpreter
from models.detectors.roi import Roi, box_iou

INPUT_SIDE = 224
STRIDES = (8, 16, 32, 32, 32)
NUM_KEYPOINTS = 4


@dataclass(frozen=True)
class PoseDetection:
    """One person found by the detector.

    Attributes:
        score: 0..1.
        box: (4,) x0,y0,x1,y1 px of the detector's box (roughly the face/head).
        keypoints: (4,2) px: hip centre, full-body scale point, shoulder centre, upper-body scale point.
    """

    score: float
    box: np.ndarray
    keypoints: np.ndarray

    def roi(self) -> Roi:
        """The full-body region the landmark model wants (mediapipe's detection-to-ROI rule)."""
        return Roi.from_alignment(self.keypoints[0], self.keypoints[1], scale=1.25)


def ssd_anchors(input_side: int = INPUT_SIDE, strides: tuple[int, ...] = STRIDES,
                anchors_per_layer: int = 2) -> np.ndarray:
    """(N,2) anchor centres in unit coordinates, in the network's output order.

    Consecutive layers with the same stride share one feature map (their anchors are
    interleaved per cell), as in mediapipe's SsdAnchorsCalculator with fixed anchor size.
    """
    centres: list[np.ndarray] = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = 1
        while layer + same < len(strides) and strides[layer + same] == stride:
            same += 1
        cells = int(np.ceil(input_side / stride))
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells,
                             indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, anchors_per_layer * same, axis=0))
        layer += same
    return np.concatenate(centres, axis=0)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray,
           min_score: float = 0.5, input_side: int = INPUT_SIDE,
           num_keypoints: int = NUM_KEYPOINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode an SSD network's outputs (BlazePose, BlazeFace) into unit-square coordinates of its input.

    Args:
        raw_boxes: (N,4+2K) regression values (pixels of the ``input_side`` input, relative to
            the anchor): box cx, cy, w, h, then K keypoints x, y.
        raw_scores: (N,) or (N,1) logits.
        anchors: (N,2) anchor centres (unit).
    Returns:
        scores (M,), boxes (M,4) x0,y0,x1,y1 unit, keypoints (M,K,2) unit, for scores >= min_score.
    """
    logits = np.clip(np.asarray(raw_scores, dtype=np.float64).reshape(-1), -100.0, 100.0)
    scores = 1.0 / (1.0 + np.exp(-logits))
    keep = scores >= min_score
    raw = np.asarray(raw_boxes, dtype=np.float64)[keep] / input_side
    anc = anchors[keep]
    cx, cy = raw[:, 0] + anc[:, 0], raw[:, 1] + anc[:, 1]
    w, h = raw[:, 2], raw[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = raw[:, 4:4 + 2 * num_keypoints].reshape(-1, num_keypoints, 2) + anc[:, None, :]
    return scores[keep], boxes, kps


def weighted_nms(scores: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray,
                 iou_threshold: float = 0.3) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """Blend overlapping detections (score-weighted mean of boxes and keypoints).

    Args: scores (N,), boxes (N,4), keypoints (N,K,2), any consistent units.
    Returns: list of (best score, blended box (4,), blended keypoints (K,2)), best first.
    """
    order = np.argsort(-scores)
    remaining = list(order)
    out: list[tuple[float, np.ndarray, np.ndarray]] = []
    while remaining:
        best = remaining[0]
        ious = box_iou(boxes[best:best + 1], boxes[remaining])[0]
        group = [remaining[i] for i in range(len(remaining)) if ious[i] > iou_threshold]
        weights = scores[group] / scores[group].sum()
        out.append((float(scores[best]), (boxes[group] * weights[:, None]).sum(axis=0),
                    (keypoints[group] * weights[:, None, None]).sum(axis=0)))
        remaining = [r for i, r in enumerate(remaining) if ious[i] <= iou_threshold]
    return out


class BlazePoseDetector:
    """Runs ``pose_detection.tflite`` over regions of an image and merges the results.

    Args:
        min_score: detection threshold (0..1).
        num_threads: TFLite threads.
    """

    def __init__(self, min_score: float = 0.5, num_threads: int = 2) -> None:
        self.min_score = min_score
        self._interpreter = load_interpreter("pose_detection/pose_detection.tflite", num_threads)
        self._input = CropInput(self._interpreter, self._interpreter.get_input_details()[0]["index"], INPUT_SIDE,
                                2.0 / 255.0, -1.0)
        outputs = {o["name"]: o["index"] for o in self._interpreter.get_output_details()}
        self._boxes_out, self._scores_out = outputs["Identity"], outputs["Identity_1"]
        self.anchors = ssd_anchors()

    def detect_in(self, image_rgb: np.ndarray, roi: Roi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw (pre-NMS) detections inside one region, in image px: scores (K,), boxes (K,4), kps (K,4,2)."""
        self._input.fill(image_rgb, roi)
        self._interpreter.invoke()
        raw_boxes = self._interpreter.get_tensor(self._boxes_out)[0]
        raw_scores = self._interpreter.get_tensor(self._scores_out)[0]
        scores, boxes, kps = decode(raw_boxes, raw_scores, self.anchors, self.min_score)
        if len(scores) == 0:
            return scores, boxes.reshape(0, 4), kps.reshape(0, NUM_KEYPOINTS, 2)
        corners = roi.to_image(boxes.reshape(-1, 2)).reshape(-1, 2, 2)
        boxes_px = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
        kps_px = roi.to_image(kps.reshape(-1, 2)).reshape(-1, NUM_KEYPOINTS, 2)
        return scores, boxes_px, kps_px

    def detect(self, image_rgb: np.ndarray, regions: list[Roi] | None = None) -> list[PoseDetection]:
        """All people in ``image_rgb`` (H,W,3 uint8 RGB), searched in ``regions`` (default: whole frame)."""
        if regions is None:
            regions = [whole_frame(image_rgb.shape[1], image_rgb.shape[0])]
        found = [self.detect_in(image_rgb, roi) for roi in regions]
        scores = np.concatenate([f[0] for f in found])
        if len(scores) == 0:
            return []
        boxes = np.concatenate([f[1] for f in found])
        kps = np.concatenate([f[2] for f in found])
        return [PoseDetection(s, b, k) for s, b, k in weighted_nms(scores, boxes, kps)]


def whole_frame(width: int, height: int) -> Roi:
    """The letterboxed whole frame as a region."""
    return Roi(width / 2.0, height / 2.0, float(max(width, height)), 0.0)


def tiles(width: int, height: int, side: float, overlap: float = 0.25) -> list[Roi]:
    """Upright square regions of ``side`` px covering the frame with at least ``overlap`` overlap."""
    def starts(extent: int) -> list[float]:
        if side >= extent:
            return [extent / 2.0]
        n = int(np.ceil((extent - side) / (side * (1.0 - overlap)))) + 1
        return list(np.linspace(side / 2.0, extent - side / 2.0, n))

    return [Roi(float(x), float(y), float(side)) for y in starts(height) for x in starts(width)]


def pyramid(width: int, height: int, min_person_px: float = 120.0) -> list[Roi]:
    """Whole frame plus tiles at finer scales, down to tiles where a ``min_person_px`` tall
    person still fills a useful part of the 224 px input."""
    regions = [whole_frame(width, height)]
    side = float(min(width, height))
    if max(width, height) > side * 1.2:
        regions += tiles(width, height, side)
    while side / 2.0 >= 2.0 * min_person_px and side / 2.0 >= INPUT_SIDE:
        side /= 2.0
        regions += tiles(width, height, side)
    return regions


def rgb(image_bgr: np.ndarray) -> np.ndarray:
    """(H,W,3) BGR -> RGB (contiguous)."""
    return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
