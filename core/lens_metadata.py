"""The lens a file says it was shot with: its 35 mm-equivalent focal length.

* Photos (and folders of them): EXIF ``FocalLengthIn35mmFilm`` (tag 0xA405), read with Pillow.
* QuickTime / MP4 movies: the ``mdta`` key ``com.apple.quicktime.camera.focal_length.35mm_equivalent``
  in ``moov/meta`` (iPhones write it; AVFoundation's
  ``AVMetadataQuickTimeMetadataKeyCameraFocalLength35mmEquivalent``), read from the atoms here.

A 35 mm-equivalent focal length is defined on the diagonal of a 36 x 24 mm frame (43.27 mm), so
it gives the focal in pixels for any frame shape and orientation: ``f_px = f35 / 43.27 * diagonal_px``.
Nothing here raises on a file it cannot read: no metadata is simply ``None``.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

from core.footage import IMAGE_EXTENSIONS, image_files

FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
"""Diagonal of the 35 mm film frame the equivalent focal length refers to (43.27 mm)."""
PLAUSIBLE_MM = (8.0, 2000.0)
"""35 mm-equivalent focal lengths outside this range are taken as damaged metadata."""
QUICKTIME_KEY = "com.apple.quicktime.camera.focal_length.35mm_equivalent"
MAX_MOOV_BYTES = 64 << 20
"""A movie header larger than this is not read (real ones are kilobytes to a few megabytes)."""
_EXIF_IFD, _FOCAL_35MM = 0x8769, 0xA405
_QUICKTIME_SUFFIXES = frozenset({".mov", ".mp4", ".m4v", ".3gp", ".qt"})


def focal_px_from_35mm(focal_35mm: float, width: int, height: int) -> float:
    """Focal length in pixels of a ``width`` x ``height`` px frame from its 35 mm-equivalent (mm)."""
    return float(focal_35mm) / FULL_FRAME_DIAGONAL_MM * math.hypot(width, height)


def footage_focal_35mm(path: str | Path) -> float | None:
    """The 35 mm-equivalent focal length (mm) the footage's metadata states, or None.

    ``path``: a movie, a photo, or a folder of photos (its first image in natural order)."""
    p = Path(path)
    try:
        if p.is_dir():
            files = image_files(p)
            return image_focal_35mm(files[0]) if files else None
        if p.suffix.lower() in IMAGE_EXTENSIONS:
            return image_focal_35mm(p)
        if p.suffix.lower() in _QUICKTIME_SUFFIXES:
            return quicktime_focal_35mm(p)
    except OSError:
        return None
    return None


def image_focal_35mm(path: str | Path) -> float | None:
    """EXIF ``FocalLengthIn35mmFilm`` of a photo (mm), or None."""
    try:
        from PIL import Image

        with Image.open(path) as image:
            value = image.getexif().get_ifd(_EXIF_IFD).get(_FOCAL_35MM)
        return _plausible(float(value)) if value is not None else None
    except Exception:  # noqa: BLE001 - any unreadable or odd file simply has no lens metadata
        return None


def quicktime_focal_35mm(path: str | Path) -> float | None:
    """The QuickTime metadata's 35 mm-equivalent focal length (mm), or None."""
    try:
        with open(path, "rb") as f:
            moov = _read_top_level(f, b"moov")
        for meta in _metas(moov or b""):
            value = _mdta_value(meta, QUICKTIME_KEY)
            if value is not None:
                return _plausible(value)
    except (OSError, struct.error, ValueError):  # a damaged file has no usable metadata
        return None
    return None


def _plausible(mm: float) -> float | None:
    return mm if PLAUSIBLE_MM[0] <= mm <= PLAUSIBLE_MM[1] and math.isfinite(mm) else None


def _read_top_level(f, kind: bytes) -> bytes | None:  # noqa: ANN001 - a binary file
    """The payload of the first top-level atom of this type (skipping others by seeking)."""
    f.seek(0, 2)
    end = f.tell()
    pos = 0
    while pos + 8 <= end:
        f.seek(pos)
        size, atom = struct.unpack(">I4s", f.read(8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", f.read(8))[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            return None
        if atom == kind:
            if size - header > MAX_MOOV_BYTES:
                return None
            return f.read(size - header)
        pos += size
    return None


def _children(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, payload) of the atoms packed in ``data`` (stops at the first damaged one)."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size, atom = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1 and pos + 16 <= len(data):
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = len(data) - pos
        if size < header or pos + size > len(data):
            break
        out.append((atom, data[pos + header:pos + size]))
        pos += size
    return out


def _metas(moov: bytes) -> list[bytes]:
    """The ``meta`` atoms' children area in moov and moov/udta. QuickTime's ``meta`` holds its
    children directly; ISO's is a full box (4 bytes of version and flags first)."""
    found = [payload for atom, payload in _children(moov) if atom == b"meta"]
    for atom, payload in _children(moov):
        if atom == b"udta":
            found += [p for a, p in _children(payload) if a == b"meta"]
    out = []
    for payload in found:
        kinds = {a for a, _ in _children(payload)}
        out.append(payload if b"keys" in kinds or b"hdlr" in kinds else payload[4:])
    return out


def _mdta_value(meta: bytes, key: str) -> float | None:
    """The numeric value of an ``mdta`` key in a meta atom's ``keys`` and ``ilst``, or None."""
    children = dict(_children(meta))
    keys, items = children.get(b"keys"), children.get(b"ilst")
    if keys is None or items is None or len(keys) < 8:
        return None
    count = struct.unpack_from(">I", keys, 4)[0]
    index, pos = None, 8
    for k in range(1, count + 1):
        if pos + 8 > len(keys):
            return None
        size = struct.unpack_from(">I", keys, pos)[0]
        if size < 8 or pos + size > len(keys):
            return None
        if keys[pos + 4:pos + 8] == b"mdta" and keys[pos + 8:pos + size] == key.encode():
            index = k
            break
        pos += size
    if index is None:
        return None
    for atom, payload in _children(items):
        if struct.unpack(">I", atom)[0] != index:
            continue
        for kind, data in _children(payload):
            if kind == b"data" and len(data) >= 8:
                return _data_value(struct.unpack_from(">I", data, 0)[0] & 0xFFFFFF, data[8:])
    return None


def _data_value(kind: int, value: bytes) -> float | None:
    """A QuickTime ``data`` atom's value as a number: UTF-8 text (1), big-endian signed (21) or
    unsigned (22) integer, float32 (23) or float64 (24); None for other types."""
    try:
        if kind == 1:
            return float(value.decode("utf-8").strip())
        if kind in (21, 22) and len(value) in (1, 2, 4, 8):
            return float(int.from_bytes(value, "big", signed=kind == 21))
        if kind == 23 and len(value) == 4:
            return float(struct.unpack(">f", value)[0])
        if kind == 24 and len(value) == 8:
            return float(struct.unpack(">d", value)[0])
    except (UnicodeDecodeError, ValueError):
        return None
    return None
