"""The detector networks run directly on crops: input filling and face detection, real models."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.detectors._tflite import CropInput, load_interpreter
from models.detectors.blazepose import rgb
from models.detectors.face import FaceDetector
from models.detectors.roi import Roi, cut


def test_crop_input_writes_the_scaled_crop_into_the_network() -> None:
    interpreter = load_interpreter("face_detection/face_detection_short_range.tflite", 1)
    index = interpreter.get_input_details()[0]["index"]
    image = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    roi = Roi(150, 90, 160, 0.4)
    CropInput(interpreter, index, 128, 2.0 / 255.0, -1.0).fill(image, roi)
    expected = cut(image, roi, 128).astype(np.float32) * (2.0 / 255.0) - 1.0
    np.testing.assert_allclose(interpreter.get_tensor(index)[0], expected, atol=1e-6)
    interpreter.invoke()  # the view into the input is released: the network still runs


def test_face_detectors_find_the_player_facing_the_camera(opencv_doc_data: Path) -> None:
    image = rgb(cv2.imread(str(opencv_doc_data / "basketball1.png")))
    nose = np.array([100.0, 120.0])  # the left player's face (see tests/core/test_landmarks.py)
    # the short-range model wants bigger faces: a tighter tile
    for full_range, tile in ((True, Roi(160, 160, 320)), (False, Roi(110, 150, 224))):
        detector = FaceDetector(min_score=0.5, full_range=full_range)
        assert len(detector.anchors) == (2304 if full_range else 896)
        faces = detector.detect(image, tile)
        assert faces, f"full_range={full_range}: no face in the player's tile"
        x0, y0, x1, y1 = faces[0].box
        assert x0 - 10 < nose[0] < x1 + 10 and y0 - 10 < nose[1] < y1 + 10, faces[0].box
        assert 10 < x1 - x0 < 80  # a face, not the whole tile
        detector.close()
    # an empty grey frame has no face
    assert FaceDetector().detect(np.full((240, 320, 3), 127, np.uint8)) == []
