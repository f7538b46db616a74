"""core.footage on real decoding: files written by OpenCV's encoders and Debian's opencv-doc clips."""

from __future__ import annotations

import os
import struct
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.errors import InputError
from core.footage import DEFAULT_FPS, Footage, Frame, natural_key, open_footage


def grey(frame: Frame) -> float:
    """Mean of the flat (non-marker) part of a numbered frame: 8 * index for the fixture's frames."""
    h, w = frame.image.shape[:2]
    return float(frame.image[h // 2:, w // 2:].mean())


def read_all(footage: Footage) -> list[Frame]:
    with footage:
        return list(footage)


def check_frame(frame: Frame, width: int, height: int) -> None:
    assert frame.image.shape == (height, width, 3)
    assert frame.image.dtype == np.uint8
    assert frame.image.flags["C_CONTIGUOUS"]


# -- containers and codecs ----------------------------------------------------------

@pytest.mark.parametrize("name,fourcc", [("a.mp4", "mp4v"), ("a.mov", "mp4v"), ("a.avi", "MJPG"),
                                         ("a.mkv", "mp4v"), ("a.webm", "VP90")])
def test_reads_every_frame_of_each_container(make_video, name: str, fourcc: str) -> None:
    path = make_video(name, 24, fourcc=fourcc, size=(64, 48), fps=25)
    footage = open_footage(path)
    assert footage.info.kind == "video"
    assert (footage.info.width, footage.info.height) == (64, 48)
    assert footage.info.fps == pytest.approx(25.0)
    assert footage.info.rotation_deg == 0
    frames = read_all(footage)
    assert [f.index for f in frames] == list(range(24))
    for f in frames:
        check_frame(f, 64, 48)
        assert abs(grey(f) - 8 * f.index) < 6, (f.index, grey(f))
    assert footage.warnings == []


@pytest.mark.parametrize("start,end,stride", [(0, None, 1), (5, None, 1), (0, 10, 3), (7, 20, 4), (29, None, 2)])
def test_range_and_stride_give_true_source_frames(make_video, start: int, end: int | None, stride: int) -> None:
    path = make_video("r.avi", 30, fourcc="MJPG")
    footage = open_footage(path, start=start, end=end, stride=stride)
    expected = list(range(start, 30 if end is None else end, stride))
    assert footage.planned_count == len(expected)
    frames = read_all(footage)
    assert [f.index for f in frames] == expected
    for f in frames:  # the picture is the one at that source frame, not just the label
        assert abs(grey(f) - 8 * f.index) < 6


def test_iterating_again_restarts(make_video) -> None:
    footage = open_footage(make_video("again.mp4", 12), start=2, stride=5)
    with footage:
        assert [f.index for f in footage] == [2, 7]
        assert [f.index for f in footage] == [2, 7]
    with pytest.raises(InputError, match="closed"):
        iter(footage)


def test_end_past_the_file_stops_with_a_note(make_video) -> None:
    footage = open_footage(make_video("short.avi", 10, fourcc="MJPG"), end=50)
    assert [f.index for f in read_all(footage)] == list(range(10))
    assert footage.warnings and "ended at frame 10" in footage.warnings[0]


def test_real_footage_vtest(opencv_doc_data: Path) -> None:
    footage = open_footage(opencv_doc_data / "vtest.avi", start=100, end=160, stride=10)
    assert footage.info.kind == "video"
    assert (footage.info.width, footage.info.height, footage.info.fps) == (768, 576, 10.0)
    assert footage.info.frame_count == 795
    frames = read_all(footage)
    assert [f.index for f in frames] == [100, 110, 120, 130, 140, 150]
    # the same frame read from the start by OpenCV directly
    capture = cv2.VideoCapture(str(opencv_doc_data / "vtest.avi"))
    for _ in range(130):
        capture.grab()
    ok, direct = capture.read()
    capture.release()
    assert ok and np.array_equal(frames[3].image, direct)


def test_real_damaged_file_is_read_without_error(opencv_doc_data: Path) -> None:
    """Megamind_bugy.avi: opencv-doc's damaged clip; whatever decodes is delivered, consistently sized."""
    footage = open_footage(opencv_doc_data / "Megamind_bugy.avi")
    frames = read_all(footage)
    assert len(frames) > 100
    assert all(f.image.shape == (footage.info.height, footage.info.width, 3) for f in frames)
    assert [f.index for f in frames] == list(range(len(frames)))


# -- frame counts that are wrong or unknown ----------------------------------------------

def _set_avi_count(path: Path, count: int) -> None:
    """Overwrite the frame totals in an AVI header (main header and stream header)."""
    data = bytearray(path.read_bytes())
    avih = data.find(b"avih")
    data[avih + 8 + 16: avih + 8 + 20] = struct.pack("<I", count)  # dwTotalFrames
    strh = data.find(b"strh")
    data[strh + 8 + 32: strh + 8 + 36] = struct.pack("<I", count)  # dwLength
    path.write_bytes(bytes(data))


def test_count_too_small_in_header_still_reads_all_frames(make_video) -> None:
    path = make_video("lies.avi", 30, fourcc="MJPG")
    _set_avi_count(path, 5)
    footage = open_footage(path)
    assert footage.info.frame_count == 5
    assert [f.index for f in read_all(footage)] == list(range(30))
    footage = open_footage(path, start=20, stride=3)  # a start past the announced count still works
    assert [f.index for f in read_all(footage)] == [20, 23, 26, 29]


def test_count_too_large_in_header_stops_with_a_note(make_video) -> None:
    path = make_video("more.avi", 12, fourcc="MJPG")
    _set_avi_count(path, 100)
    footage = open_footage(path)
    frames = read_all(footage)
    assert [f.index for f in frames] == list(range(12))
    assert footage.warnings


def test_unknown_count_is_none_and_all_frames_come(tmp_path: Path) -> None:
    """A raw MJPEG stream (concatenated JPEGs) has no header and no count."""
    path = tmp_path / "stream.mjpeg"
    with path.open("wb") as handle:
        for i in range(15):
            ok, jpeg = cv2.imencode(".jpg", np.full((40, 56, 3), 8 * i, np.uint8))
            assert ok
            handle.write(jpeg.tobytes())
    footage = open_footage(path)
    assert footage.info.kind == "video"
    frames = read_all(footage)
    assert len(frames) == 15
    assert [round(grey(f) / 8) for f in frames] == list(range(15))
    if footage.info.frame_count is None:
        assert footage.planned_count is None


# -- damage --------------------------------------------------------------------------

@pytest.mark.parametrize("name,fourcc", [("t.avi", "MJPG"), ("t.mkv", "mp4v"), ("t.webm", "VP90")])
def test_truncated_video_keeps_frames_before_the_cut(make_video, name: str, fourcc: str) -> None:
    frames_in = [np.random.default_rng(i).integers(0, 255, (120, 160, 3), np.uint8) for i in range(60)]
    path = make_video(name, frames_in, fourcc=fourcc, size=(160, 120))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    footage = open_footage(path)
    frames = read_all(footage)
    assert 0 < len(frames) < 60
    assert [f.index for f in frames] == list(range(len(frames)))
    assert footage.warnings and "truncated or damaged" in footage.warnings[0]


def test_truncated_real_file_keeps_frames(opencv_doc_data: Path, tmp_path: Path) -> None:
    data = (opencv_doc_data / "vtest.avi").read_bytes()
    path = tmp_path / "vtest_cut.avi"
    path.write_bytes(data[: len(data) // 3])
    footage = open_footage(path)
    frames = read_all(footage)
    assert 100 < len(frames) < 795
    assert footage.warnings


def test_mp4_without_index_is_refused_clearly(make_video) -> None:
    path = make_video("cut.mp4", 30)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # OpenCV's mp4 writer puts 'moov' last
    with pytest.raises(InputError, match="moov"):
        open_footage(path)


def test_garbage_in_the_middle_never_raises(make_video) -> None:
    frames_in = [np.random.default_rng(i).integers(0, 255, (120, 160, 3), np.uint8) for i in range(40)]
    for name, fourcc in (("g.mp4", "mp4v"), ("g.avi", "MJPG")):
        path = make_video(name, frames_in, fourcc=fourcc, size=(160, 120))
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        data[middle: middle + 3000] = np.random.default_rng(1).integers(0, 255, 3000, np.uint8).tobytes()
        path.write_bytes(bytes(data))
        frames = read_all(open_footage(path))
        assert len(frames) >= 20
        assert all(f.image.shape == (120, 160, 3) for f in frames)


@pytest.mark.parametrize("name,fourcc", [("zero.avi", "MJPG"), ("zero.mp4", "mp4v")])
def test_zero_frames_is_an_input_error(make_video, name: str, fourcc: str) -> None:
    path = make_video(name, 0, fourcc=fourcc)
    with pytest.raises(InputError, match=r"no frame|cannot be decoded|moov|can be read"):
        open_footage(path)


def test_start_past_the_end_is_an_input_error(make_video) -> None:
    with pytest.raises(InputError, match="start frame 40"):
        open_footage(make_video("s.avi", 10, fourcc="MJPG"), start=40)


# -- not footage, missing, bad arguments ------------------------------------------------

def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        open_footage(tmp_path / "nope.mp4")


@pytest.mark.parametrize("name,content", [("notes.txt", b"hello, not a video\n" * 50),
                                          ("fake.mp4", b"hello, not a video\n" * 50),
                                          ("fake.png", b"\x89PNG but not really" * 10),
                                          ("empty.mp4", b"")])
def test_not_a_video(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        open_footage(path)
    assert name in str(info.value)


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no pictures here")
    with pytest.raises(InputError, match="holds no images"):
        open_footage(tmp_path)


@pytest.mark.parametrize("kwargs,match", [({"start": -1}, "start"), ({"stride": 0}, "stride"),
                                          ({"start": 5, "end": 5}, "empty"), ({"start": 5, "end": 2}, "empty"),
                                          ({"start": 1.5}, "whole number"), ({"stride": True}, "whole number")])
def test_bad_range(make_video, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        open_footage(make_video("b.avi", 5, fourcc="MJPG"), **kwargs)


# -- pictures: black, tiny, huge, grayscale, rotated ----------------------------------------

def test_all_black_frames_are_delivered(make_video) -> None:
    black = [np.zeros((48, 64, 3), np.uint8)] * 8
    frames = read_all(open_footage(make_video("black.avi", black, fourcc="MJPG")))
    assert len(frames) == 8
    assert all(f.image.max() <= 2 for f in frames)


def test_tiny_frames(make_video, tmp_path: Path) -> None:
    frames = read_all(open_footage(make_video("tiny.avi", 5, size=(16, 16), fourcc="MJPG")))
    assert len(frames) == 5 and frames[0].image.shape == (16, 16, 3)
    cv2.imwrite(str(tmp_path / "pixel.png"), np.full((1, 1, 3), 200, np.uint8))
    footage = open_footage(tmp_path / "pixel.png")
    assert (footage.info.width, footage.info.height) == (1, 1)
    assert read_all(footage)[0].image.tolist() == [[[200, 200, 200]]]


def test_8k_video_and_image(make_video, tmp_path: Path) -> None:
    size = (7680, 4320)
    video = make_video("8k.avi", [np.full((4320, 7680, 3), 90, np.uint8)] * 2, size=size, fourcc="MJPG")
    footage = open_footage(video)
    assert (footage.info.width, footage.info.height) == size
    frames = read_all(footage)
    assert len(frames) == 2 and frames[1].image.shape == (4320, 7680, 3)
    image = tmp_path / "8k.jpg"
    cv2.imwrite(str(image), np.full((4320, 7680, 3), 90, np.uint8))
    assert read_all(open_footage(image))[0].image.shape == (4320, 7680, 3)


def test_grayscale_video_and_images(make_video, tmp_path: Path) -> None:
    grey_frames = [np.full((48, 64), 8 * i, np.uint8) for i in range(6)]
    frames = read_all(open_footage(make_video("grey.avi", grey_frames, fourcc="MJPG", color=False)))
    assert len(frames) == 6 and frames[0].image.shape == (48, 64, 3)
    gray = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    cv2.imwrite(str(tmp_path / "g8.png"), gray)
    cv2.imwrite(str(tmp_path / "g16.png"), gray.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([gray, gray, gray, np.full_like(gray, 255)]))
    for name in ("g8.png", "g16.png", "rgba.png"):
        image = read_all(open_footage(tmp_path / name))[0].image
        assert image.shape == (48, 64, 3) and image.dtype == np.uint8
        assert np.abs(image[..., 1].astype(int) - gray).max() <= 1, name


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_metadata_is_applied(make_video, rotate_mp4, degrees: int) -> None:
    """A real MP4 carrying a display matrix (as phones write): frames come out upright."""
    path = make_video(f"rot{degrees}.mp4", 6, size=(96, 48))
    rotate_mp4(path, degrees)
    footage = open_footage(path)
    assert footage.info.rotation_deg == degrees
    expected_size = (48, 96) if degrees in (90, 270) else (96, 48)
    assert (footage.info.width, footage.info.height) == expected_size
    frames = read_all(footage)
    assert len(frames) == 6
    image = frames[0].image
    assert image.shape[:2] == expected_size[::-1]
    # the red block written at the top-left corner ends where a clockwise turn puts it
    red = np.argwhere((image[..., 2] > 180) & (image[..., 0] < 80)).mean(axis=0) / image.shape[:2]
    corner = {90: (0, 1), 180: (1, 1), 270: (1, 0)}[degrees]  # (row, col): 0 = top/left
    assert np.all(np.abs(red - corner) < 0.35), (red, corner)


# -- images and folders ---------------------------------------------------------------

def test_single_image(opencv_doc_data: Path) -> None:
    footage = open_footage(opencv_doc_data / "basketball1.png")
    assert footage.info.kind == "image"
    assert (footage.info.fps, footage.info.frame_count, footage.info.rotation_deg) == (DEFAULT_FPS, 1, 0)
    frames = read_all(footage)
    assert len(frames) == 1 and frames[0].index == 0
    assert np.array_equal(frames[0].image, cv2.imread(str(opencv_doc_data / "basketball1.png")))


def test_image_with_unusual_name_is_still_an_image(tmp_path: Path) -> None:
    path = tmp_path / "photo.data"
    path.write_bytes(cv2.imencode(".png", np.full((20, 30, 3), 77, np.uint8))[1].tobytes())
    footage = open_footage(path)
    assert footage.info.kind == "image"
    assert read_all(footage)[0].image.shape == (20, 30, 3)


def test_folder_natural_order_skips_bad_members(tmp_path: Path) -> None:
    folder = tmp_path / "shots with spaces ü"
    folder.mkdir()
    for i in (1, 2, 10, 3, 20):
        cv2.imwrite(str(folder / f"img{i}.png"), np.full((24, 32, 3), 8 * i, np.uint8))
    (folder / "img4.png").write_bytes(b"broken")  # unreadable: skipped
    cv2.imwrite(str(folder / "img5.jpg"), np.zeros((10, 10, 3), np.uint8))  # other size: skipped
    (folder / "notes.txt").write_text("ignored")
    footage = open_footage(folder)
    assert footage.info.kind == "folder"
    assert footage.info.frame_count == 7
    assert (footage.info.width, footage.info.height) == (32, 24)
    frames = read_all(footage)
    # natural order: img1 img2 img3 img4 img5 img10 img20 -> indices 0..6, 3 and 4 skipped
    assert [f.index for f in frames] == [0, 1, 2, 5, 6]
    assert [round(grey(f) / 8) for f in frames] == [1, 2, 3, 10, 20]
    assert len(footage.warnings) == 2
    assert [f.index for f in read_all(open_footage(folder, start=1, end=6, stride=2))] == [1, 5]


def test_natural_key() -> None:
    names = ["img10.png", "img2.png", "IMG1.png", "img2b.png", "a.png"]
    assert sorted(names, key=natural_key) == ["a.png", "IMG1.png", "img2.png", "img2b.png", "img10.png"]


def test_non_ascii_path_with_spaces(make_video, tmp_path: Path) -> None:
    path = make_video("clip ñ 動画.avi", 4, fourcc="MJPG")
    assert len(read_all(open_footage(str(path)))) == 4


# -- bounded memory -------------------------------------------------------------------

def test_frames_are_streamed_not_held(make_video) -> None:
    path = make_video("long.avi", 200, size=(320, 240), fourcc="MJPG")
    frame_bytes = 320 * 240 * 3
    tracemalloc.start()
    try:
        with open_footage(path) as footage:
            count = sum(1 for _ in footage)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200
    assert peak < 10 * frame_bytes, f"peak {peak / 1e6:.1f} MB for 200 frames of {frame_bytes / 1e6:.2f} MB"


def _rss_bytes() -> int:
    """Resident memory of this process now (Linux /proc)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_long_1080p_video_keeps_resident_memory_flat(make_video) -> None:
    """600 frames of 1080p (3.7 GB if held) are read with resident memory that stays flat."""
    gradient = np.tile(np.linspace(0, 255, 1920, dtype=np.uint8), (1080, 1))
    frames = [np.dstack([np.roll(gradient, 7 * i, axis=1)] * 3) for i in range(0, 600, 50)]
    path = make_video("long1080.avi", [frames[(i // 50) % len(frames)] for i in range(600)],
                      size=(1920, 1080), fourcc="MJPG", fps=30)
    del frames
    samples = []
    with open_footage(path) as footage:
        for frame in footage:
            if frame.index % 50 == 0:
                samples.append(_rss_bytes())
    assert frame.index == 599
    growth = max(samples[2:]) - samples[1]
    print(f"RSS after 50 frames {samples[1] / 1e6:.0f} MB, max later {max(samples[2:]) / 1e6:.0f} MB")
    assert growth < 60e6, f"resident memory grew {growth / 1e6:.0f} MB over 550 frames of 6.2 MB each"


def test_each_pass_gets_its_own_pictures(tmp_path: Path) -> None:
    """Drawing on a delivered frame must not change what a later pass delivers."""
    cv2.imwrite(str(tmp_path / "a.png"), np.full((8, 8, 3), 50, np.uint8))
    with open_footage(tmp_path / "a.png") as footage:
        for frame in footage:
            frame.image[:] = 255
        assert [int(f.image.max()) for f in footage] == [50]


@pytest.mark.parametrize("orientation,degrees", [(1, 0), (3, 180), (6, 90), (8, 270)])
def test_exif_orientation_of_photos_is_applied(tmp_path: Path, orientation: int, degrees: int) -> None:
    """A JPEG whose EXIF orientation tag says how to turn it (as cameras write): delivered upright."""
    image = np.zeros((40, 80, 3), np.uint8)
    image[:10, :20] = (0, 0, 255)  # red block at the top-left of the stored picture
    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + bytes(4)
    app1 = b"Exif\x00\x00" + tiff
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:])
    footage = open_footage(path)
    assert footage.info.rotation_deg == degrees
    upright = read_all(footage)[0].image
    assert upright.shape[:2] == ((80, 40) if degrees in (90, 270) else (40, 80))
    red = np.argwhere((upright[..., 2] > 180) & (upright[..., 0] < 80)).mean(axis=0) / upright.shape[:2]
    corner = {0: (0, 0), 90: (0, 1), 180: (1, 1), 270: (1, 0)}[degrees]
    assert np.all(np.abs(red - corner) < 0.35), (red, corner)


def test_stream_whose_picture_size_changes_keeps_one_size(tmp_path: Path) -> None:
    """Spliced MJPEG: 64x48 pictures then 32x24 ones. Every frame comes at the first size."""
    path = tmp_path / "spliced.mjpeg"
    with path.open("wb") as handle:
        for i in range(10):
            size = (48, 64) if i < 5 else (24, 32)
            handle.write(cv2.imencode(".jpg", np.full((*size, 3), 20 * i, np.uint8))[1].tobytes())
    frames = read_all(open_footage(path))
    assert [f.index for f in frames] == list(range(10))
    assert all(f.image.shape == (48, 64, 3) for f in frames)
    assert [round(float(f.image.mean()) / 20) for f in frames] == list(range(10))


def test_mirrored_footage_is_flipped_back(opencv_doc_data: Path) -> None:
    """``mirror=True``: every frame of a real video and of an image comes flipped about the
    vertical axis (a selfie's left and right put back); the first pixel column becomes the last."""
    plain = read_all(open_footage(opencv_doc_data / "vtest.avi", start=100, end=130, stride=10))
    with open_footage(opencv_doc_data / "vtest.avi", start=100, end=130, stride=10, mirror=True) as footage:
        assert footage.mirror and "mirror=True" in repr(footage)
        assert footage.summary == "video 768x576 at 10 fps, mirrored: flipped back"
        mirrored = read_all(footage)
    assert [f.index for f in mirrored] == [f.index for f in plain] == [100, 110, 120]
    for a, b in zip(plain, mirrored, strict=True):
        assert not np.array_equal(a.image, b.image)
        assert np.array_equal(b.image, a.image[:, ::-1])
    image = read_all(open_footage(opencv_doc_data / "basketball1.png", mirror=True))[0].image
    assert np.array_equal(image, cv2.imread(str(opencv_doc_data / "basketball1.png"))[:, ::-1])
    plain_image = open_footage(opencv_doc_data / "basketball1.png")
    assert not plain_image.mirror and plain_image.summary == "image 640x480 at 30 fps"
