"""Fixtures for tests/core: small real footage files written with OpenCV's own encoders."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

WriteVideo = Callable[..., Path]


def numbered_frame(index: int, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 BGR frame whose flat grey level is ``8 * index`` (survives lossy codecs:
    the decoded mean is within a few levels), with a red block at the top-left corner."""
    image = np.full((height, width, 3), (8 * index) % 256, np.uint8)
    image[: max(1, height // 5), : max(1, width // 3)] = (0, 0, 255)
    return image


def write_video(path: Path, frames: int | Sequence[np.ndarray], *, size: tuple[int, int] = (64, 48),
                fps: float = 25.0, fourcc: str = "mp4v", color: bool = True) -> Path:
    """Write a real video with cv2.VideoWriter.

    Args:
        path: output file (the extension picks the container).
        frames: a frame count (frames from :func:`numbered_frame`) or the frames themselves
            ((H, W, 3) uint8 BGR, or (H, W) uint8 when ``color`` is False).
        size: (W, H) px.
    """
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size, color)
    assert writer.isOpened(), f"cv2.VideoWriter cannot write {path.suffix} with {fourcc}"
    images = [numbered_frame(i, *size) for i in range(frames)] if isinstance(frames, int) else frames
    for image in images:
        writer.write(image)
    writer.release()
    return path


def set_mp4_rotation(path: Path, degrees: int) -> None:
    """Write a display matrix for a clockwise rotation into the MP4's track header ('tkhd').

    This is the rotation metadata phones record; FFmpeg reads it back as the stream's
    display matrix. Only the matrix changes; the coded pictures stay as they are.
    """
    cos, sin = {0: (1, 0), 90: (0, 1), 180: (-1, 0), 270: (0, -1)}[degrees]
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    assert at > 0, "no tkhd box"
    version = data[at + 4]
    matrix = at + 8 + (20 if version == 0 else 32) + 8 + 8  # times, ids, reserved, layer/volume
    fixed = [cos, sin, 0, -sin, cos, 0]  # a b u c d v in 16.16 (u, v are 2.30 and zero)
    for k, value in enumerate(fixed):
        data[matrix + 4 * k: matrix + 4 * k + 4] = struct.pack(">i", int(value * 65536))
    path.write_bytes(bytes(data))


@pytest.fixture
def make_video(tmp_path: Path) -> WriteVideo:
    """``make_video(name, frames, size=(W, H), fps=, fourcc=, color=)`` -> path in tmp_path."""

    def make(name: str, frames: int | Sequence[np.ndarray], **kwargs: object) -> Path:
        return write_video(tmp_path / name, frames, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
def rotate_mp4() -> Callable[[Path, int], None]:
    """``rotate_mp4(path, degrees)``: see :func:`set_mp4_rotation`."""
    return set_mp4_rotation
