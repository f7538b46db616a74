"""Property tests: whatever bytes, paths or ranges open_footage is given, it either delivers
valid frames or raises InputError: never another exception.

FOOTAGE_FUZZ_EXAMPLES=2000 runs a longer search (default 60 examples per test).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.errors import InputError
from core.footage import open_footage

FUZZ = settings(max_examples=int(os.environ.get("FOOTAGE_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

EXTENSIONS = st.sampled_from(["", ".mp4", ".avi", ".mkv", ".webm", ".mov", ".png", ".jpg", ".txt", ".gif",
                              ".bin", ".mjpeg"])
RANGES = st.tuples(st.integers(-3, 40), st.one_of(st.none(), st.integers(-3, 60)), st.integers(-2, 7))
VALID_RANGES = st.tuples(st.integers(0, 8), st.one_of(st.none(), st.integers(9, 30)), st.integers(1, 4))


def consume(path: str | Path, start: int = 0, end: int | None = None, stride: int = 1,
            limit: int = 80) -> int:
    """Open and read up to ``limit`` frames, checking each; returns frames read. InputError passes."""
    with open_footage(path, start=start, end=end, stride=stride) as footage:
        info = footage.info
        assert info.kind in ("video", "image", "folder")
        assert info.width >= 1 and info.height >= 1 and info.fps > 0
        assert info.rotation_deg in (0, 90, 180, 270)
        previous = -1
        count = 0
        for frame in footage:
            assert frame.image.dtype == np.uint8
            assert frame.image.shape == (info.height, info.width, 3)
            assert frame.index > previous and frame.index >= start
            assert end is None or frame.index < end
            assert (frame.index - start) % stride == 0
            previous = frame.index
            count += 1
            if count >= limit:
                break
        assert all(isinstance(w, str) and w for w in footage.warnings)
        return count


def either_frames_or_input_error(path: str | Path, *args: int | None) -> None:
    try:
        frames = consume(path, *args)  # type: ignore[arg-type]
        event("opened", "frames" if frames else "no frames in range")
    except InputError as exc:
        assert str(exc)  # a message for the user
        event("opened", "InputError")


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="footage_fuzz_") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="module")
def valid_videos(workdir: Path) -> dict[str, bytes]:
    """Bytes of small real videos (random pictures so every frame carries data)."""
    import cv2

    out: dict[str, bytes] = {}
    for name, fourcc in (("v.avi", "MJPG"), ("v.mp4", "mp4v"), ("v.mkv", "mp4v")):
        path = workdir / name
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 24, (48, 32))
        rng = np.random.default_rng(0)
        for _ in range(12):
            writer.write(rng.integers(0, 255, (32, 48, 3), np.uint8))
        writer.release()
        out[name] = path.read_bytes()
    return out


@FUZZ
@given(data=st.binary(max_size=4096), ext=EXTENSIONS, ranges=RANGES)
def test_garbage_bytes(workdir: Path, data: bytes, ext: str, ranges: tuple[int, int | None, int]) -> None:
    path = workdir / f"garbage{ext}"
    path.write_bytes(data)
    either_frames_or_input_error(path, *ranges)


class VideoBytes:
    """Holder with a short repr, so failing examples print readably."""

    def __init__(self, data: dict[str, bytes]) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"VideoBytes({sorted(self.data)})"


@pytest.fixture(scope="module")
def video_bytes(valid_videos: dict[str, bytes]) -> VideoBytes:
    return VideoBytes(valid_videos)


@FUZZ
@given(name=st.sampled_from(["v.avi", "v.mp4", "v.mkv"]), cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
       flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=30),
       ranges=VALID_RANGES)
def test_damaged_real_videos(workdir: Path, video_bytes: VideoBytes, name: str, cut: float | None,
                             flips: list[tuple[float, int]], ranges: tuple[int, int | None, int]) -> None:
    data = bytearray(video_bytes.data[name])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    if cut is not None:
        data = data[: max(1, int(cut * len(data)))]
    path = workdir / f"damaged_{name}"
    path.write_bytes(bytes(data))
    either_frames_or_input_error(path, *ranges)


@FUZZ
@given(name=st.text(min_size=1, max_size=300), ranges=RANGES)
def test_arbitrary_paths(workdir: Path, name: str, ranges: tuple[int, int | None, int]) -> None:
    either_frames_or_input_error(name, *ranges)
    either_frames_or_input_error(workdir / name, *ranges)


@pytest.fixture(scope="module")
def intact_avi(workdir: Path, valid_videos: dict[str, bytes]) -> Path:
    path = workdir / "range.avi"
    path.write_bytes(valid_videos["v.avi"])
    return path


@FUZZ
@given(start=st.one_of(st.integers(), st.floats(allow_nan=True), st.none(), st.text(max_size=3), st.booleans()),
       end=st.one_of(st.integers(), st.floats(allow_nan=True), st.none(), st.text(max_size=3)),
       stride=st.one_of(st.integers(), st.floats(allow_nan=True), st.none(), st.text(max_size=3)))
def test_arbitrary_range_arguments(intact_avi: Path, start: object, end: object, stride: object) -> None:
    path = intact_avi
    try:
        consume(path, start, end, stride)  # type: ignore[arg-type]
    except InputError as exc:
        assert str(exc)


def test_a_valid_video_passes_the_same_checks(workdir: Path, valid_videos: dict[str, bytes]) -> None:
    """The property above is not vacuous: intact input yields every frame."""
    for name, data in valid_videos.items():
        path = workdir / f"intact_{name}"
        path.write_bytes(data)
        assert consume(path) == 12, name
        assert consume(path, 3, 11, 4) == 2, name
