"""Property test filling the one gap of tests/core/test_footage_fuzz.py: damaged *images* (that
file fuzzes videos, paths and ranges; images only as random bytes). Real PNG/JPEG bytes with
flipped bytes, cuts, and PNG headers claiming any size, alone or in a folder with good images:
open_footage delivers valid frames or raises InputError, nothing else."""

from __future__ import annotations

import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InputError
from core.footage import open_footage

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def images() -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    picture = rng.integers(0, 255, (24, 40, 3), np.uint8)
    return {ext: cv2.imencode(ext, picture)[1].tobytes() for ext in (".png", ".jpg")}


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="image_fuzz_") as tmp:
        yield Path(tmp)


def _frames_or_input_error(path: Path) -> None:
    try:
        with open_footage(path) as footage:
            info = footage.info
            for frame in footage:
                assert frame.image.dtype == np.uint8 and frame.image.shape == (info.height, info.width, 3)
    except InputError as exc:
        assert str(exc)


def _png_with_size(width: int, height: int, body: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b"")


@FUZZ
@given(ext=st.sampled_from([".png", ".jpg"]), cut=st.one_of(st.none(), st.floats(0.0, 1.0)),
       flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=20), in_folder=st.booleans())
def test_damaged_images(workdir: Path, images: dict[str, bytes], ext: str, cut: float | None,
                        flips: list[tuple[float, int]], in_folder: bool) -> None:
    data = bytearray(images[ext])
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    if cut is not None:
        data = data[: max(1, int(cut * len(data)))]
    folder = Path(tempfile.mkdtemp(dir=workdir))
    (folder / f"b{ext}").write_bytes(bytes(data))
    if in_folder:
        (folder / f"a{ext}").write_bytes(images[ext])
        (folder / f"c{ext}").write_bytes(images[ext])
    _frames_or_input_error(folder if in_folder else folder / f"b{ext}")


@FUZZ
@given(width=st.integers(0, 2**31 - 1), height=st.integers(0, 2**31 - 1), body=st.binary(max_size=64))
def test_png_headers_claiming_any_size(workdir: Path, width: int, height: int, body: bytes) -> None:
    path = workdir / "claim.png"
    path.write_bytes(_png_with_size(width, height, body))
    _frames_or_input_error(path)
