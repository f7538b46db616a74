"""Footage reader: video files, single images and folders of images, streamed frame by frame.

``open_footage(path, start, end, stride)`` checks the input up front (it decodes the first
frame of the range, so a file that opens but holds no pictures is refused at once) and
returns a :class:`Footage`: a context manager that yields :class:`Frame` objects one at a
time. Memory stays bounded by one decoded frame (plus the decoder's own buffers): a long
1080p video is never held whole.

Rules, in one place:

* **Videos**: whatever OpenCV's FFmpeg backend decodes (mp4, mov, avi, mkv, webm, gif...).
  ``CAP_PROP_FRAME_COUNT`` is only a hint: ``info.frame_count`` reports it (``None`` when
  the container does not know) but iteration reads until the decoder stops, so files whose
  count is wrong or missing give all their real frames. Frames are skipped with
  ``grab()`` (no colour conversion), so ``Frame.index`` is always the true source frame
  number even for codecs whose seeking is inexact.
* **Rotation metadata** (the display matrix phones write): FFmpeg's auto-rotation is
  switched on explicitly (``CAP_PROP_ORIENTATION_AUTO``), the angle it applied is read
  from ``CAP_PROP_ORIENTATION_META`` into ``info.rotation_deg`` and ``info.width/height``
  are those of the upright picture actually delivered.
* **Images** are decoded with ``cv2.imdecode`` (EXIF orientation applied, non-ASCII paths
  safe on every OS); ``info.rotation_deg`` reports the EXIF rotation of the first image. Grayscale, 16-bit and alpha images become 3-channel 8-bit BGR.
  Images have no frame rate: ``info.fps`` is :data:`DEFAULT_FPS` for them.
* **Folders**: every image file directly inside, in natural order (``img2`` before
  ``img10``); ``Frame.index`` is the position in that order. An unreadable image, or one
  whose size differs from the first, is skipped with a note in ``footage.warnings``.
* **Mirrored footage** (a selfie or webcam picture, left and right swapped): ``mirror=True``
  flips every frame back (``cv2.flip``, about the vertical axis) before anyone sees it, so people's
  right hands are right hands; ``footage.mirror`` says so for what is written from it.
* **Damage**: a file that cannot be opened, has no decodable frame, or is not footage
  raises :class:`core.errors.InputError` from ``open_footage``. Damage part-way through a
  video ends the iteration: the frames before it are kept and ``footage.warnings`` says
  where it stopped.
* **Range**: ``start`` (first source frame, inclusive), ``end`` (exclusive, ``None`` = to
  the end), ``stride`` (keep every n-th frame from ``start``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import cv2
import numpy as np

from core.errors import InputError

DEFAULT_FPS = 30.0
"""Frame rate reported for images, folders and videos whose container states none."""

IMAGE_EXTENSIONS = frozenset({
    ".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".jp2",
    ".pbm", ".pgm", ".ppm", ".pnm", ".pxm", ".sr", ".ras", ".hdr", ".pic", ".exr", ".avif",
})
"""File name endings read as still images (a single image, or the members of a folder)."""

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".gif", ".mjpeg", ".mjpg", ".mpg", ".mpeg",
    ".ts", ".mts", ".m2ts", ".wmv", ".flv", ".3gp", ".ogv", ".y4m", ".mxf", ".dv", ".h264", ".264",
    ".hevc", ".h265",
})
"""Names always opened as videos. Other unknown names are sniffed: image signature -> image."""

MAX_FRAME_PIXELS = 2**27
"""Largest accepted frame (134 Mpx; 8K UHD is 33 Mpx): bigger frames are refused clearly."""

TEXT_CODECS = frozenset({"ansi"})
"""FFmpeg 'codecs' that render text files as pictures (its tty demuxer): refused, not footage."""

MAX_WARNINGS = 20
"""Notes kept in ``Footage.warnings``; further ones are summed up in one last line."""

Kind = Literal["video", "image", "folder"]


@dataclass(frozen=True)
class FootageInfo:
    """What the footage is.

    Attributes:
        path: the input path as given (string form).
        kind: ``video``, ``image`` or ``folder``.
        fps: source frames per second (:data:`DEFAULT_FPS` for images and folders, or for
            a video whose container states no usable rate; ``footage.warnings`` says so for
            videos).
        width, height: size in pixels of the delivered (upright) frames.
        frame_count: frames the container reports (images: 1; folders: image files found);
            ``None`` when the container does not know. A hint only: iteration counts the
            real frames.
        rotation_deg: rotation metadata that was applied to make frames upright
            (0, 90, 180 or 270, clockwise as FFmpeg reports it).
    """

    path: str
    kind: Kind
    fps: float
    width: int
    height: int
    frame_count: int | None
    rotation_deg: int


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    Attributes:
        index: source frame number (0-based; for folders, the position in natural order).
        image: (H, W, 3) uint8 BGR, upright (rotation applied); grayscale converted.
    """

    index: int
    image: np.ndarray


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs by value: ``img2`` < ``img10`` (case-insensitive)."""
    parts = re.split(r"(\d+)", name.lower())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p != "")


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any decoded picture -> contiguous (H, W, 3) uint8 BGR.

    Accepts (H, W) gray, (H, W, 1), (H, W, 3) BGR, (H, W, 4) BGRA, in uint8, uint16 or float
    (floats are taken as 0..1).
    """
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        image = np.clip(np.nan_to_num(image.astype(np.float32)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        image = cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


def _check_range(start: int, end: int | None, stride: int) -> None:
    for name, value in (("start", start), ("end", end), ("stride", stride)):
        if name == "end" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise InputError(f"{name} must be a whole number, got {value!r}")
    if start < 0:
        raise InputError(f"start must be 0 or more, got {start}")
    if stride < 1:
        raise InputError(f"stride must be 1 or more, got {stride}")
    if end is not None and end <= start:
        raise InputError(f"end ({end}) must be greater than start ({start}); the range is empty")


def _check_size(width: int, height: int, what: str) -> None:
    if width < 1 or height < 1:
        raise InputError(f"{what} has an empty picture ({width}x{height} px)")
    if width * height > MAX_FRAME_PIXELS:
        raise InputError(f"{what} frames are {width}x{height} px, larger than the "
                         f"{MAX_FRAME_PIXELS // 10**6} Mpx this tool handles; scale the footage down")


def read_image(path: Path) -> np.ndarray | None:
    """Decode one image file to (H, W, 3) uint8 BGR with EXIF orientation applied; None if unreadable."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:  # e.g. a header claiming more than OpenCV's pixel limit (CV_IO_MAX_IMAGE_PIXELS)
        return None
    return None if image is None else to_bgr8(image)


_ROTATIONS = ((90, cv2.ROTATE_90_CLOCKWISE), (180, cv2.ROTATE_180), (270, cv2.ROTATE_90_COUNTERCLOCKWISE))


def exif_rotation(path: Path, upright: np.ndarray) -> int:
    """Clockwise rotation (0, 90, 180, 270) that EXIF orientation made OpenCV apply to a JPEG.

    ``upright`` is the image as :func:`read_image` returned it. Found by decoding again with
    the orientation ignored and comparing; mirrored orientations (EXIF 2, 4, 5, 7) give 0.
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return 0
    if data[:2].tobytes() != b"\xff\xd8":  # only JPEG files carry EXIF orientation here
        return 0
    try:
        raw = cv2.imdecode(data, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:
        return 0
    if raw is None:
        return 0
    raw = to_bgr8(raw)
    for degrees, code in _ROTATIONS:
        turned = cv2.rotate(raw, code)
        if turned.shape == upright.shape and np.array_equal(turned, upright):
            return degrees
    return 0


def image_files(folder: Path) -> list[Path]:
    """The image files of a folder (by :data:`IMAGE_EXTENSIONS`), in natural order."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


class Footage:
    """Opened footage: iterate for :class:`Frame` objects; use as a context manager.

    Create with :func:`open_footage`. Iterating again restarts from ``start`` (a video is
    reopened). ``warnings`` collects notes for the user (damage, fallbacks, skipped images).
    """

    def __init__(self, info: FootageInfo, start: int, end: int | None, stride: int,
                 *, files: list[Path] | None = None, capture: cv2.VideoCapture | None = None,
                 first: Frame | None = None, warnings: list[str] | None = None) -> None:
        self.info = info
        self.start, self.end, self.stride = start, end, stride
        self.warnings: list[str] = warnings if warnings is not None else []
        self._files = files
        self._capture = capture
        self._first = first
        self._closed = False
        self._suppressed = 0
        self.mirror = False
        """Frames are flipped about the vertical axis (set by :func:`open_footage`)."""

    # -- public -------------------------------------------------------------------
    @property
    def planned_count(self) -> int | None:
        """Frames the range should yield if ``info.frame_count`` is right (for progress totals).

        ``None`` when the count is unknown and no ``end`` was given.
        """
        stop = self.end
        if self.info.frame_count is not None:
            stop = self.info.frame_count if stop is None else min(stop, self.info.frame_count)
        if stop is None:
            return None
        return len(range(self.start, stop, self.stride))

    @property
    def summary(self) -> str:
        """One line for the user: kind, size, frame rate, and whether the frames are flipped back."""
        info = self.info
        return (f"{info.kind} {info.width}x{info.height} at {info.fps:g} fps"
                + (", mirrored: flipped back" if self.mirror else ""))

    def __iter__(self) -> Iterator[Frame]:
        if self._closed:
            raise InputError(f"footage {self.info.path} was closed")
        frames = self._iter_video() if self.info.kind == "video" else self._iter_images()
        if self.mirror:
            return (Frame(f.index, cv2.flip(f.image, 1)) for f in frames)
        return frames

    def close(self) -> None:
        """Release the decoder (idempotent)."""
        self._closed = True
        if self._capture is not None:
            self._capture.release()
            self._capture = None
        self._first = None

    def __enter__(self) -> Footage:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Footage({self.info!r}, start={self.start}, end={self.end}, stride={self.stride}"
                + (", mirror=True)" if self.mirror else ")"))

    # -- images -------------------------------------------------------------------
    def _iter_images(self) -> Iterator[Frame]:
        files = self._files or []
        stop = len(files) if self.end is None else min(self.end, len(files))
        for index in range(self.start, stop, self.stride):
            if self._closed:
                return
            if index == self.start and self._first is not None:
                image: np.ndarray | None = self._first.image
                self._first = None  # handed out once: a later pass decodes afresh (callers may draw on it)
            else:
                image = read_image(files[index])
            if image is None:
                self._warn(f"skipped unreadable image {files[index].name} (frame {index})")
                continue
            if image.shape[:2] != (self.info.height, self.info.width):
                self._warn(f"skipped {files[index].name} (frame {index}): its size "
                           f"{image.shape[1]}x{image.shape[0]} differs from the first image's "
                           f"{self.info.width}x{self.info.height}")
                continue
            yield Frame(index, image)

    # -- video --------------------------------------------------------------------
    def _iter_video(self) -> Iterator[Frame]:
        capture, first = self._capture, self._first
        self._capture, self._first = None, None  # the next iteration reopens
        if capture is None:
            capture, first = _open_video_at(self.info.path, self.start)
            if first is None:
                capture.release()
                self._warn(f"no frame could be decoded at frame {self.start} on re-reading")
                return
        try:
            assert first is not None
            yield first
            index = self.start + 1
            while not self._closed and (self.end is None or index < self.end):
                keep = (index - self.start) % self.stride == 0
                ok = capture.grab()
                image = None
                if ok and keep:
                    ok, image = capture.retrieve()
                    ok = ok and image is not None
                if not ok:
                    self._note_video_end(index)
                    return
                if keep:
                    assert image is not None
                    if image.shape[:2] != (self.info.height, self.info.width):
                        self._warn(f"stopped at frame {index}: the picture size changed to "
                                   f"{image.shape[1]}x{image.shape[0]} (damaged or spliced file); "
                                   "kept the frames before")
                        return
                    yield Frame(index, to_bgr8(image))
                index += 1
        finally:
            capture.release()

    def _note_video_end(self, index: int) -> None:
        """The decoder stopped before source frame ``index``: note it when that is earlier than expected."""
        count = self.info.frame_count
        if count is not None and index < count:
            self._warn(f"decoding stopped at frame {index} of the {count} the file announces "
                       f"(truncated or damaged); kept the frames before")
        elif self.end is not None and index < self.end:
            self._warn(f"the video ended at frame {index}, before the requested end {self.end}")

    def _warn(self, message: str) -> None:
        if message in self.warnings:
            return
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)
            return
        self._suppressed += 1
        summary = f"... and {self._suppressed} more such notes"
        if self.warnings[-1].startswith("... and "):
            self.warnings[-1] = summary
        else:
            self.warnings.append(summary)


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own warnings (e.g. on a file FFmpeg cannot open): we raise clear errors."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


def _open_capture(path: str) -> cv2.VideoCapture:
    with _quiet_opencv():
        capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if capture.isOpened():
        capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return capture


def _open_video_at(path: str, start: int) -> tuple[cv2.VideoCapture, Frame | None]:
    """Open ``path`` and decode source frame ``start`` (skipping with grab()); frame None if absent."""
    capture = _open_capture(path)
    if not capture.isOpened():
        return capture, None
    for _ in range(start):
        if not capture.grab():
            return capture, None
    ok, image = capture.read()
    if not ok or image is None:
        return capture, None
    return capture, Frame(start, to_bgr8(image))


def _unopenable_message(path: Path, shown: str) -> str:
    """Why FFmpeg could not open ``path``, guessed from the file's first bytes."""
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        return f"footage {shown} cannot be read: {exc.strerror or exc}"
    if head[4:8] == b"ftyp":
        return (f"{shown} is an MP4/MOV file whose index (the 'moov' box) is missing or damaged: "
                "the file is truncated, or was still being written; it cannot be decoded. "
                "Re-export or re-copy it")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return f"{shown} is an AVI file too damaged to open (truncated or corrupt header)"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return f"{shown} is a Matroska/WebM file too damaged to open (truncated or corrupt header)"
    return (f"{shown} is not a video or image that can be read (OpenCV/FFmpeg could not open it; "
            "the file may be damaged or of an unsupported type)")


def _video_fps(capture: cv2.VideoCapture, warnings: list[str]) -> float:
    fps = float(capture.get(cv2.CAP_PROP_FPS))
    if not math.isfinite(fps) or fps <= 0.0 or fps > 1000.0:
        warnings.append(f"the video states no usable frame rate ({fps:g}); assuming {DEFAULT_FPS:g} fps")
        return DEFAULT_FPS
    return fps


def _video_count(capture: cv2.VideoCapture) -> int | None:
    count = float(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if not math.isfinite(count) or count <= 0 or count > 2**31:
        return None
    return int(round(count))


def _rotation(capture: cv2.VideoCapture) -> int:
    value = float(capture.get(cv2.CAP_PROP_ORIENTATION_META))
    if not math.isfinite(value):
        return 0
    return int(round(value / 90.0)) * 90 % 360


def _open_video(path: Path, shown: str, start: int, end: int | None, stride: int) -> Footage:
    capture = _open_capture(str(path))
    if not capture.isOpened():
        capture.release()
        raise InputError(_unopenable_message(path, shown))
    codec = int(capture.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode("latin-1")
    if codec in TEXT_CODECS:
        capture.release()
        raise InputError(f"{shown} is a text file, not a video or image")
    warnings: list[str] = []
    count = _video_count(capture)
    fps = _video_fps(capture, warnings)
    rotation = _rotation(capture)
    width_hint = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
    height_hint = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    if width_hint > 0 and height_hint > 0:
        _check_size(width_hint, height_hint, shown)
    capture.release()
    capture, first = _open_video_at(str(path), start)
    if first is None:
        capture.release()
        if start == 0:
            raise InputError(f"{shown} holds no frame that can be decoded (empty, truncated or damaged video)")
        known = "" if count is None else f"; it announces {count} frames"
        raise InputError(f"no frame could be decoded at start frame {start} of {shown} "
                         f"(the video is shorter, or damaged there{known})")
    height, width = first.image.shape[:2]
    _check_size(width, height, shown)
    info = FootageInfo(shown, "video", fps, width, height, count, rotation)
    return Footage(info, start, end, stride, capture=capture, first=first, warnings=warnings)


def _open_images(path: Path, shown: str, files: list[Path], kind: Kind,
                 start: int, end: int | None, stride: int) -> Footage:
    count = len(files)
    if start >= count:
        what = "the image" if kind == "image" else f"the {count} images in {shown}"
        raise InputError(f"start frame {start} is past the end: there is only {what}")
    first = read_image(files[start])
    if first is None:
        raise InputError(f"{files[start].name} cannot be decoded as an image (damaged, empty, "
                         "too large or of an unsupported type)")
    height, width = first.shape[:2]
    _check_size(width, height, shown)
    info = FootageInfo(shown, kind, DEFAULT_FPS, width, height, count, exif_rotation(files[start], first))
    return Footage(info, start, end, stride, files=files, first=Frame(start, first))


def open_footage(path: str | Path, start: int = 0, end: int | None = None, stride: int = 1,
                 mirror: bool = False) -> Footage:
    """Open a video file, an image or a folder of images for streaming.

    Args:
        path: the footage.
        start: first source frame to deliver (inclusive).
        end: source frame to stop before (exclusive); ``None`` reads to the end.
        stride: deliver every ``stride``-th frame from ``start``.
        mirror: the footage is a mirror image (selfie, webcam): deliver every frame flipped back.

    Returns:
        a :class:`Footage` (close it, or use ``with``).

    Raises:
        InputError: missing path, not footage, unreadable or damaged file, no frames,
            frames too large, or a bad range/stride.
    """
    footage = _open(path, start, end, stride)
    footage.mirror = bool(mirror)
    return footage


def _open(path: str | Path, start: int, end: int | None, stride: int) -> Footage:
    """:func:`open_footage` without the mirror."""
    if not isinstance(path, str | os.PathLike):
        raise InputError(f"footage path must be a file or folder path, got {type(path).__name__}")
    shown = os.fspath(path)
    if isinstance(shown, bytes):
        raise InputError("footage path must be text, not bytes")
    if shown == "" or "\x00" in shown:
        raise InputError(f"footage path {shown!r} is not a valid path")
    _check_range(start, end, stride)
    start, stride = int(start), int(stride)
    end = None if end is None else int(end)
    p = Path(shown)
    try:
        exists, is_dir = p.exists(), p.is_dir()
    except OSError as exc:
        raise InputError(f"footage path {shown!r} cannot be used: {exc.strerror or exc}") from exc
    if not exists:
        raise InputError(f"footage not found: {shown}")
    if is_dir:
        try:
            files = image_files(p)
        except OSError as exc:
            raise InputError(f"cannot list folder {shown}: {exc.strerror or exc}") from exc
        if not files:
            raise InputError(f"folder {shown} holds no images "
                             f"(looked for {', '.join(sorted(IMAGE_EXTENSIONS)[:8])}, ...)")
        return _open_images(p, shown, files, "folder", start, end, stride)
    if not p.is_file():
        raise InputError(f"footage {shown} is not a regular file or folder")
    if not os.access(p, os.R_OK):
        raise InputError(f"footage {shown} cannot be read (permission denied)")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise InputError(f"footage {shown} cannot be read: {exc.strerror or exc}") from exc
    if size == 0:
        raise InputError(f"footage {shown} is an empty file (0 bytes)")
    suffix = p.suffix.lower()
    if suffix in IMAGE_EXTENSIONS or (suffix not in VIDEO_EXTENSIONS and _looks_like_image(p)):
        return _open_images(p, shown, [p], "image", start, end, stride)
    return _open_video(p, shown, start, end, stride)


def _looks_like_image(path: Path) -> bool:
    """True when the file starts with the signature of an image format OpenCV decodes."""
    with _quiet_opencv():
        return bool(cv2.haveImageReader(str(path)))
