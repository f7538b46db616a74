"""``python -m core overlay INPUT FILE.npz -o OUT.mp4|OUT.png [--frame N]``.

Draws a keypoints file (ids, boxes, body skeletons, hands, face points) or a motion file
(SMPL-X skeletons projected through the file's camera) over the footage it was made from.
A video output holds the frames that have rows in the file, at the file's frame rate; an
image output holds one frame (``--frame``, a source frame number; default the first row).
The output appears only when complete (temporary file, then ``os.replace``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from core.atomic_file import write_atomic
from core.errors import InputError, OutputError
from core.footage import IMAGE_EXTENSIONS, open_footage
from core.progress import Progress

if TYPE_CHECKING:
    from core.overlay import OverlaySource

HELP = "draw a keypoints or motion file over its footage (video or one image)"

VIDEO_CODECS = {".mp4": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}
IMAGE_OUTPUTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="the footage the file was made from (video, image or folder)")
    parser.add_argument("file", help="a keypoints file (video-mocap-keypoints/1) or motion file "
                                     "(video-mocap-motion/1)")
    parser.add_argument("-o", "--output", required=True,
                        help="OUT.mp4 / .mov / .mkv / .avi (video) or OUT.png / .jpg (one frame)")
    parser.add_argument("--frame", type=int, default=None,
                        help="source frame to draw for an image output (default: the file's first row)")


def run(args: argparse.Namespace, progress: Progress) -> int:
    output = Path(args.output)
    suffix = output.suffix.lower()
    if suffix not in VIDEO_CODECS and suffix not in IMAGE_OUTPUTS:
        raise InputError(f"output {output} must end in one of "
                         f"{', '.join(sorted(VIDEO_CODECS) + sorted(IMAGE_OUTPUTS))}")
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {output}: folder {folder} does not exist")
    from core.overlay import load_overlay_source  # imports mediapipe's topology: only when drawing

    source = load_overlay_source(args.file)
    if len(source.frame_index) == 0:
        raise InputError(f"{args.file} has no rows (no frames): nothing to draw")
    rows = {int(f): r for r, f in enumerate(source.frame_index)}
    if suffix in IMAGE_OUTPUTS:
        frames_written = _write_image(args, source, rows, output, progress)
    else:
        frames_written = _write_video(args, source, rows, output, suffix, progress)
    progress.done(str(output), frames=frames_written)
    return 0


def _check_size(image: np.ndarray, source: OverlaySource, args: argparse.Namespace) -> None:
    height, width = image.shape[:2]
    if (width, height) != tuple(source.image_size):
        raise InputError(f"{args.file} was made from {source.image_size[0]}x{source.image_size[1]} footage, "
                         f"but {args.input} is {width}x{height}: is it the same footage?")


def _write_image(args: argparse.Namespace, source: OverlaySource, rows: dict[int, int], output: Path,
                 progress: Progress) -> int:
    frame_number = int(source.frame_index[0]) if args.frame is None else int(args.frame)
    if frame_number not in rows:
        shown = sorted(rows)
        raise InputError(f"frame {frame_number} is not in {args.file} (it has {len(shown)} rows, "
                         f"frames {shown[0]}..{shown[-1]})")
    progress.stage("overlay", total=1)
    with open_footage(args.input, start=frame_number, end=frame_number + 1,
                      mirror=source.mirrored) as footage:
        frame = next(iter(footage), None)
        for warning in footage.warnings:
            progress.info(warning)
    if frame is None:
        raise InputError(f"frame {frame_number} of {args.input} could not be decoded")
    _check_size(frame.image, source, args)
    image = frame.image.copy()
    source.draw(image, rows[frame_number])
    ok, encoded = cv2.imencode(output.suffix.lower(), image)
    if not ok:
        raise OutputError(f"cannot encode {output}")
    _atomic_write(output, lambda tmp: Path(tmp).write_bytes(encoded.tobytes()))
    progress.update(1)
    return 1


def _write_video(args: argparse.Namespace, source: OverlaySource, rows: dict[int, int], output: Path,
                 suffix: str, progress: Progress) -> int:
    first, last = min(rows), max(rows)
    written = 0

    def write(tmp: str) -> None:
        nonlocal written
        writer: cv2.VideoWriter | None = None
        try:
            with open_footage(args.input, start=first, end=last + 1, mirror=source.mirrored) as footage:
                progress.stage("overlay", total=len(rows))
                for frame in footage:
                    row = rows.get(frame.index)
                    if row is None:
                        continue
                    if writer is None:
                        _check_size(frame.image, source, args)
                        height, width = frame.image.shape[:2]
                        fps = source.fps if np.isfinite(source.fps) and source.fps > 0 else footage.info.fps
                        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*VIDEO_CODECS[suffix]), fps,
                                                 (width, height))
                        if not writer.isOpened():
                            raise OutputError(f"cannot write video {output} (no {suffix} encoder)")
                    image = frame.image.copy()
                    source.draw(image, row)
                    writer.write(image)
                    written += 1
                    progress.update(written)
                for warning in footage.warnings:
                    progress.info(warning)
        finally:
            if writer is not None:
                writer.release()
        if written == 0:
            raise InputError(f"none of the frames in {args.file} ({first}..{last}) could be read from {args.input}")
        if written < len(rows):
            progress.info(f"drew {written} of the {len(rows)} frames in {args.file}: the footage ended early")

    _atomic_write(output, write)
    return written


def _atomic_write(output: Path, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` for a temporary file beside ``output``, then rename it into place.

    The temporary file keeps ``output``'s suffix (video writers choose the container from it)
    and is removed on any failure, cancel included.
    """
    def write_checked(tmp: str) -> None:
        write(tmp)
        if os.path.getsize(tmp) == 0:
            raise OutputError(f"cannot write {output}: nothing was written (disk full?)")

    write_atomic(output, write_checked, suffix=output.suffix)
