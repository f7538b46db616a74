"""The footage's own lens metadata: photo EXIF and QuickTime keys, read from files the tests
write (Pillow for EXIF; the QuickTime atoms packed here, as an iPhone writes them), and the
capture that uses it (the close-up sample's video with the metadata added)."""

from __future__ import annotations

import math
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.lens_metadata import (QUICKTIME_KEY, focal_px_from_35mm, footage_focal_35mm, image_focal_35mm,
                                quicktime_focal_35mm)

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def _atom(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", len(payload) + 8, kind) + payload


def lens_meta_atom(value: bytes, data_type: int, key: str = QUICKTIME_KEY, full_box: bool = False) -> bytes:
    """A ``meta`` atom with one ``mdta`` key (after another key) and its ``data`` value."""
    keys = [b"com.apple.quicktime.make", key.encode()]
    entries = b"".join(struct.pack(">I4s", len(k) + 8, b"mdta") + k for k in keys)
    items = (_atom(struct.pack(">I", 1), _atom(b"data", struct.pack(">II", 1, 0) + b"Apple"))
             + _atom(struct.pack(">I", 2), _atom(b"data", struct.pack(">II", data_type, 0) + value)))
    body = (_atom(b"hdlr", bytes(8) + b"mdta" + bytes(13))
            + _atom(b"keys", struct.pack(">II", 0, len(keys)) + entries) + _atom(b"ilst", items))
    return _atom(b"meta", (bytes(4) if full_box else b"") + body)


def with_moov_child(movie: bytes, child: bytes) -> bytes:
    """The movie with ``child`` appended to its ``moov`` atom (which must come last, after the
    media data, so no sample offset moves)."""
    pos, last = 0, None
    while pos < len(movie):
        size, kind = struct.unpack_from(">I4s", movie, pos)
        last = (pos, size, kind)
        pos += size
    assert last is not None and last[2] == b"moov"
    start, size, _ = last
    return movie[:start] + struct.pack(">I4s", size + len(child), b"moov") + movie[start + 8:] + child


def _movie(tmp_path: Path, meta: bytes, name: str = "clip.mov", udta: bool = False) -> Path:
    moov = _atom(b"mvhd", bytes(100)) + (_atom(b"udta", meta) if udta else meta)
    path = tmp_path / name
    path.write_bytes(_atom(b"ftyp", b"qt  " + bytes(4)) + _atom(b"mdat", bytes(64)) + _atom(b"moov", moov))
    return path


@pytest.mark.parametrize(("value", "data_type"), [
    (struct.pack(">f", 26.0), 23), (struct.pack(">d", 26.0), 24), (struct.pack(">H", 26), 22),
    (struct.pack(">i", 26), 21), (b"26", 1)])
def test_quicktime_lens_key_in_every_value_type(tmp_path: Path, value: bytes, data_type: int) -> None:
    path = _movie(tmp_path, lens_meta_atom(value, data_type))
    assert quicktime_focal_35mm(path) == pytest.approx(26.0)
    assert footage_focal_35mm(path) == pytest.approx(26.0)


def test_quicktime_lens_in_udta_meta_full_box(tmp_path: Path) -> None:
    path = _movie(tmp_path, lens_meta_atom(struct.pack(">f", 13.0), 23, full_box=True), "clip.mp4", udta=True)
    assert quicktime_focal_35mm(path) == pytest.approx(13.0)


def test_no_or_damaged_quicktime_metadata_is_none(tmp_path: Path) -> None:
    other_key = _movie(tmp_path, lens_meta_atom(struct.pack(">f", 26.0), 23, key="com.apple.quicktime.model"))
    assert quicktime_focal_35mm(other_key) is None
    implausible = _movie(tmp_path, lens_meta_atom(struct.pack(">f", 0.5), 23), "tiny.mov")
    assert quicktime_focal_35mm(implausible) is None
    whole = _movie(tmp_path, lens_meta_atom(struct.pack(">f", 26.0), 23), "whole.mov").read_bytes()
    for cut in (10, len(whole) // 2, len(whole) - 7):           # truncated anywhere
        (tmp_path / "cut.mov").write_bytes(whole[:cut])
        assert quicktime_focal_35mm(tmp_path / "cut.mov") is None
    (tmp_path / "garbage.mov").write_bytes(bytes(range(256)) * 40)
    assert quicktime_focal_35mm(tmp_path / "garbage.mov") is None
    assert footage_focal_35mm(tmp_path / "missing.mov") is None


def test_photo_exif_and_folder(tmp_path: Path) -> None:
    picture = Image.fromarray(np.full((48, 64, 3), 128, np.uint8))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 28                           # FocalLengthIn35mmFilm
    picture.save(tmp_path / "a_with.jpg", exif=exif)
    picture.save(tmp_path / "without.jpg")
    (tmp_path / "text.jpg").write_text("not a picture")
    assert image_focal_35mm(tmp_path / "a_with.jpg") == 28.0
    assert image_focal_35mm(tmp_path / "without.jpg") is None
    assert image_focal_35mm(tmp_path / "text.jpg") is None
    assert footage_focal_35mm(tmp_path) == 28.0                 # a folder: its first image
    assert footage_focal_35mm(tmp_path / "without.jpg") is None


def test_focal_px_from_the_35mm_equivalent_uses_the_diagonal() -> None:
    # a full-frame 36 x 24 mm sensor imaged at 3600 x 2400 px: 100 px per mm
    assert focal_px_from_35mm(50.0, 3600, 2400) == pytest.approx(5000.0)
    assert focal_px_from_35mm(50.0, 2400, 3600) == pytest.approx(5000.0)    # portrait: the same lens
    hd = focal_px_from_35mm(26.0, 1920, 1080)
    assert hd == pytest.approx(26.0 / math.hypot(36, 24) * math.hypot(1920, 1080))


@pytest.mark.slow
@pytest.mark.skipif(not (SAMPLES / "closeup_24mm").exists(), reason="ground-truth samples not rendered")
def test_capture_takes_the_lens_from_the_videos_metadata(tmp_path: Path) -> None:
    """The close-up sample (24 mm on a 36 mm-wide sensor, 640 x 480: 23.1 mm 35 mm-equivalent)
    with the lens key an iPhone writes: the capture says where its lens came from, and the focal
    is within 3 % of the truth (9.4 % from the people's perspective on the floor's horizon)."""
    from core.__main__ import main
    from core.keypoints_file import load_keypoints

    source = SAMPLES / "closeup_24mm" / "footage.mp4"
    movie = tmp_path / "closeup.mov"
    movie.write_bytes(with_moov_child(source.read_bytes(), lens_meta_atom(struct.pack(">f", 23.0), 23)))
    assert footage_focal_35mm(movie) == 23.0
    assert main(["capture", str(movie), "-o", str(tmp_path / "motion.npz"), "--progress", "quiet"]) == 0
    with np.load(tmp_path / "motion.npz") as motion:
        assert str(motion["camera_focal_source"]) == "metadata"
        focal, std = float(motion["camera_focal_px"][0]), float(motion["camera_focal_std_px"])
    true_focal = 24.0 / 36.0 * 640
    assert abs(focal / true_focal - 1) < 0.03 and 0 < std < 0.12 * focal
    # detect, then capture the keypoints file: the file keeps the lens
    keypoints = tmp_path / "keypoints.npz"
    assert main(["detect", str(movie), "-o", str(keypoints), "--progress", "quiet"]) == 0
    assert load_keypoints(keypoints).lens_35mm == 23.0
    assert main(["capture", str(keypoints), "-o", str(tmp_path / "again.npz"), "--progress", "quiet"]) == 0
    with np.load(tmp_path / "again.npz") as motion:
        assert str(motion["camera_focal_source"]) == "metadata"
        assert float(motion["camera_focal_px"][0]) == pytest.approx(focal, rel=1e-3)
    plain = tmp_path / "plain.mp4"
    shutil.copy(source, plain)
    assert footage_focal_35mm(plain) is None                    # the sample itself carries none
