"""Resumable capture: detection results saved per chunk of frames, so a rerun after a crash,
a kill or a cancel starts from the last saved chunk instead of from the first frame.

Layout: one folder per run key under the checkpoint cache (:func:`checkpoint_root`:
``$VIDEO_MOCAP_CHECKPOINTS``, else ``$XDG_CACHE_HOME/video-mocap/checkpoints``, else
``~/.cache/video-mocap/checkpoints``), named by the key: a hash of the input file and every
option that changes the result (not of the output path, so the add-on, which names each take
anew, resumes too). It holds ``chunk_00000.npz``, ``chunk_00001.npz``, ... (each a
``video-mocap-keypoints/1`` file of one chunk, written atomically: temporary file, then
rename). :meth:`Checkpoints.finish` removes the folder once the output is written; folders
untouched for :data:`STALE_DAYS` days are removed when any run opens the cache. The output
folder itself never holds anything but the finished output.

Chunks are detected independently (each from a fresh :class:`core.detect.KeypointPipeline`),
so a resumed run computes exactly what an uninterrupted run computes: the same chunks, then
the same stitching. Consecutive chunks share one frame; people are matched on it by box
overlap and keep their track ids across the seam. Footage shorter than one chunk is detected
in one piece, exactly as without checkpoints.

The fit is not chunked: :func:`core.fit.body.fit_clip` optimises the whole clip at once
(shared focal length, temporal smoothing), so its state only exists at the end.

API (the capture command uses these)::

    checkpoints = open_checkpoints(output, source, detect_options, start, end, stride)
    keypoints = detect_resumable(source, detect_options, progress, checkpoints, start, end, stride)
    ...                       # fit, write the output atomically
    checkpoints.finish()      # only after the output exists
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import InputError, OutputError
from core.keypoints_file import PERSON_FIELDS, Keypoints, PersonKeypoints, keypoints_from_arrays

if TYPE_CHECKING:
    from core.detect import DetectOptions
    from core.progress import Progress

CHECKPOINT_VERSION = 1
"""Bump when chunking or stitching changes, so older checkpoints are not reused."""
CHUNK_FRAMES = 300
"""Processed frames per chunk (10 s of 30 fps footage: at most about a minute of work is redone)."""
CHUNK_FRAMES_ENV = "VIDEO_MOCAP_CHUNK_FRAMES"
"""Environment variable overriding :data:`CHUNK_FRAMES` (tests use small chunks)."""
MIN_SEAM_IOU = 0.3
"""Smallest box overlap (intersection over union) on the shared frame that keeps a track id."""
_HASH_BYTES = 1 << 20
_CHUNK = re.compile(r"chunk_(\d{5})\.npz")


def chunk_frames() -> int:
    """Chunk size in processed frames: :data:`CHUNK_FRAMES` or the environment's override (>= 2)."""
    text = os.environ.get(CHUNK_FRAMES_ENV, "").strip()
    if not text:
        return CHUNK_FRAMES
    try:
        value = int(text)
    except ValueError as exc:
        raise InputError(f"{CHUNK_FRAMES_ENV}={text!r}: expected a whole number of frames") from exc
    if value < 2:
        raise InputError(f"{CHUNK_FRAMES_ENV}={value}: a chunk needs at least 2 frames")
    return value


def input_fingerprint(source: str | os.PathLike[str]) -> dict[str, Any]:
    """What identifies the footage: absolute path, size, modification time and a hash of its
    first and last MiB (for a folder: the same for every file in it, by name)."""
    path = Path(source).resolve()

    def one(p: Path) -> list[Any]:
        stat = p.stat()
        digest = hashlib.sha256()
        with open(p, "rb") as f:
            digest.update(f.read(_HASH_BYTES))
            if stat.st_size > _HASH_BYTES:
                f.seek(max(_HASH_BYTES, stat.st_size - _HASH_BYTES))
                digest.update(f.read(_HASH_BYTES))
        return [p.name, stat.st_size, stat.st_mtime_ns, digest.hexdigest()]

    try:
        if path.is_dir():
            files = [one(p) for p in sorted(path.iterdir()) if p.is_file()]
        else:
            files = [one(path)]
    except OSError as exc:
        raise InputError(f"{source} cannot be read: {exc.strerror or exc}") from exc
    return {"path": str(path), "files": files}


def checkpoint_key(source: str | os.PathLike[str], options: Mapping[str, Any]) -> str:
    """Hex hash of the footage (:func:`input_fingerprint`), ``options`` and the checkpoint version."""
    payload = {"version": CHECKPOINT_VERSION, "input": input_fingerprint(source), "options": options}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


CHECKPOINTS_ENV = "VIDEO_MOCAP_CHECKPOINTS"
"""Environment variable naming the checkpoint cache folder (tests point it at a temporary one)."""
STALE_DAYS = 7.0
"""Checkpoint folders untouched this long belong to runs nobody resumed; they are removed."""


def checkpoint_root() -> Path:
    """The checkpoint cache folder (see the module docstring); not created here."""
    configured = os.environ.get(CHECKPOINTS_ENV, "").strip()
    if configured:
        return Path(configured)
    cache = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(cache) / "video-mocap" / "checkpoints"


def _prune(root: Path, keep: Path) -> None:
    """Remove checkpoint folders (other than ``keep``) untouched for :data:`STALE_DAYS` days."""
    limit = time.time() - STALE_DAYS * 86400
    for folder in root.iterdir():
        try:
            if folder != keep and folder.is_dir() and max(
                    [p.stat().st_mtime for p in folder.iterdir()] + [folder.stat().st_mtime]) < limit:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


class Checkpoints:
    """Chunk results of one run (input + options), in ``<checkpoint_root()>/<key>/``.

    Args:
        key: :func:`checkpoint_key` of the run.
        root: the cache folder (default :func:`checkpoint_root`).

    Raises OutputError when the folder cannot be created.
    """

    def __init__(self, key: str, root: str | os.PathLike[str] | None = None) -> None:
        base = Path(root) if root is not None else checkpoint_root()
        self.key = key
        self.folder = base / key[:40]
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            os.utime(self.folder)
            _prune(base, self.folder)
        except OSError as exc:
            raise OutputError(f"cannot create the checkpoint folder {self.folder}: {exc.strerror or exc} "
                              f"(set {CHECKPOINTS_ENV} to a writable folder)") from exc

    def _path(self, index: int) -> Path:
        return self.folder / f"chunk_{index:05d}.npz"

    def saved(self) -> list[int]:
        """Indices of the chunks on disk, ascending."""
        found = (_CHUNK.fullmatch(p.name) for p in self.folder.iterdir()) if self.folder.is_dir() else ()
        return sorted(int(m.group(1)) for m in found if m)

    def load_chunk(self, index: int) -> dict[str, np.ndarray] | None:
        """The arrays of chunk ``index``, or None when it is not there (or damaged: then it is removed)."""
        path = self._path(index)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            path.unlink(missing_ok=True)
            return None

    def save_chunk(self, index: int, arrays: Mapping[str, np.ndarray]) -> Path:
        """Write chunk ``index`` atomically (OutputError if it cannot: nothing partial is left)."""
        from core.motion import write_npz_atomic

        path = self._path(index)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)  # a parallel run of the same key may have finished
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        write_npz_atomic(path, {k: np.asarray(v) for k, v in arrays.items()}, compressed=True)
        return path

    def finish(self) -> None:
        """Remove the checkpoint folder (call once the output is written)."""
        shutil.rmtree(self.folder, ignore_errors=True)


STALE_AFTER_S = 60.0
"""A temporary file of an atomic write untouched this long belongs to a run that died."""


def _remove_stale_temporaries(output: Path) -> list[str]:
    """Remove ``.<stem>.*.tmp.npz`` files next to ``output`` left by a writer that was killed
    (SIGKILL cannot be caught, so its atomic write could not clean up). Returns their names."""
    removed = []
    now = time.time()
    for path in output.parent.glob(f".{glob.escape(output.stem)}.*.tmp.npz"):
        try:
            if now - path.stat().st_mtime > STALE_AFTER_S:
                path.unlink()
                removed.append(path.name)
        except OSError:
            continue
    return removed


def detect_options_dict(options: "DetectOptions") -> dict[str, Any]:
    """The detection options as plain JSON-able data (for :func:`checkpoint_key`)."""
    return json.loads(json.dumps(dataclasses.asdict(options), default=str))


def open_checkpoints(output_path: str | os.PathLike[str], source: str | os.PathLike[str],
                     options: "DetectOptions", start: int = 0, end: int | None = None,
                     stride: int = 1, mirror: bool = False) -> Checkpoints:
    """:class:`Checkpoints` for detecting ``source`` with these settings into ``output_path``."""
    check_output_folder(output_path)
    settings = {"detect": detect_options_dict(options), "start": start, "end": end, "stride": stride,
                "mirror": bool(mirror), "chunk_frames": chunk_frames()}
    return Checkpoints(checkpoint_key(source, settings))


def check_output_folder(output_path: str | os.PathLike[str]) -> list[str]:
    """Fail now, before minutes of work, if ``output_path`` cannot be written (OutputError:
    missing or read-only folder); remove stale temporary files a killed writer of the same
    output left there. Returns the names removed."""
    output = Path(output_path)
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {output}: folder {folder} does not exist")
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=f".{output.stem}.probe."):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write {output}: {exc.strerror or exc}") from exc
    return _remove_stale_temporaries(output)


# --------------------------------------------------------------------------------------
# chunked detection
# --------------------------------------------------------------------------------------

class _ChunkProgress:
    """Forwards one chunk's progress as part of the whole detect stage.

    The ``detect`` stage (with the whole run's total) is announced once, when the first chunk's
    pipeline announces its own (after its networks are loaded, as an unchunked run does), or
    before the first chunk taken from a checkpoint. Notes repeated by every chunk are shown once.
    """

    def __init__(self, progress: "Progress", total: int | None) -> None:
        self.progress, self.total = progress, total
        self.offset = 0
        self.staged = False
        self.seen: set[str] = set()

    def stage(self, name: str = "detect", total: int | None = None, message: str = "") -> None:
        if not self.staged:
            self.staged = True
            self.progress.stage("detect", self.total)

    def update(self, current: int, message: str = "") -> None:
        self.progress.update(self.offset + current, message)

    def info(self, message: str) -> None:
        if message not in self.seen:
            self.seen.add(message)
            self.progress.info(message)


def chunk_ranges(start: int, end: int | None, stride: int, size: int, index: int) -> tuple[int, int | None]:
    """Source frame range [a, b) of chunk ``index``: ``size`` processed frames plus, after the
    first chunk, the previous chunk's last frame (the seam)."""
    a = start + index * size * stride
    if index > 0:
        a -= stride
    b = start + (index + 1) * size * stride
    if end is not None:
        b = min(b, end)
    return a, b


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def seam_ids(previous: Keypoints, chunk: Keypoints, next_id: int) -> tuple[dict[int, int], int]:
    """Map ``chunk``'s track ids to the ids of ``previous`` (matched by box overlap on the frame
    they share: previous's last row = chunk's first row); unmatched ids get new ones from ``next_id``.
    Returns (chunk id -> id, next free id)."""
    from scipy.optimize import linear_sum_assignment

    old = [p for p in previous.people if p.valid[-1]]
    new = [p for p in chunk.people if p.valid[0]]
    mapping: dict[int, int] = {}
    if old and new:
        iou = np.array([[_box_iou(o.box[-1], n.box[0]) for n in new] for o in old])
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] >= MIN_SEAM_IOU:
                mapping[new[c].id] = old[r].id
    for person in sorted(chunk.people, key=lambda p: p.id):
        if person.id not in mapping:
            mapping[person.id] = next_id
            next_id += 1
    return mapping, next_id


def stitch(chunks: list[Keypoints]) -> Keypoints:
    """One Keypoints from consecutive chunks (each after the first starts with the previous
    one's last frame, which is dropped). Track ids continue across seams (:func:`seam_ids`)."""
    first = chunks[0]
    frame_index = [np.asarray(first.frame_index)]
    rows: list[dict[int, tuple[PersonKeypoints, slice, int]]] = []  # per chunk: id -> (person, rows, offset)
    offset = first.num_frames
    rows.append({p.id: (p, slice(0, first.num_frames), 0) for p in first.people})
    next_id = max([p.id for p in first.people], default=0) + 1
    previous = first
    for chunk in chunks[1:]:
        mapping, next_id = seam_ids(previous, chunk, next_id)
        rows.append({mapping[p.id]: (p, slice(1, chunk.num_frames), offset) for p in chunk.people})
        frame_index.append(np.asarray(chunk.frame_index)[1:])
        offset += chunk.num_frames - 1
        previous = Keypoints(chunk.source, chunk.fps, chunk.image_size, chunk.frame_index,
                             [dataclasses.replace(p, id=mapping[p.id]) for p in chunk.people])
    total = offset
    people: dict[int, PersonKeypoints] = {}
    for chunk_rows in rows:
        for pid, (person, part, at) in chunk_rows.items():
            target = people.setdefault(pid, PersonKeypoints.empty(pid, total))
            n = part.stop - part.start
            for name in PERSON_FIELDS:
                getattr(target, name)[at: at + n] = getattr(person, name)[part]
    timings: dict[str, float] = {}
    for chunk in chunks:
        for k, v in chunk.timings.items():
            timings[k] = timings.get(k, 0.0) + v
    # each chunk found its horizon on its own frames (static camera: the same line); the first found,
    # with the focal its lines gave
    scene = next((c for c in chunks if np.asarray(c.horizon).any()), None)
    return Keypoints(source=first.source, fps=first.fps, image_size=first.image_size,
                     frame_index=np.concatenate(frame_index).astype(np.int64),
                     people=[people[k] for k in sorted(people)],
                     horizon=np.zeros(3) if scene is None else np.asarray(scene.horizon),
                     scene_focal=np.zeros(2) if scene is None else np.asarray(scene.scene_focal),
                     mirrored=first.mirrored, lens_35mm=first.lens_35mm, timings=timings)


def detect_resumable(source: str | os.PathLike[str], options: "DetectOptions", progress: "Progress",
                     checkpoints: Checkpoints, start: int = 0, end: int | None = None,
                     stride: int = 1, mirror: bool = False) -> Keypoints:
    """:func:`core.detect.detect_keypoints` over ``source`` chunk by chunk, reusing saved chunks.

    Reports one ``detect`` stage over all frames; a reused chunk is announced with ``info``.
    Damage in the footage ends detection after the last good chunk (frames before it are kept,
    as the footage reader does).
    """
    from core.detect import detect_keypoints
    from core.footage import open_footage

    size = chunk_frames()
    with open_footage(source, start=start, end=end, stride=stride, mirror=mirror) as footage:
        summary, total = footage.summary, footage.planned_count
    progress.info(summary)
    chunk_progress = _ChunkProgress(progress, total)
    chunks: list[Keypoints] = []
    done = 0
    index = 0
    while True:
        a, b = chunk_ranges(start, end, stride, size, index)
        if (end is not None and a + (stride if index else 0) >= end) or (total is not None and done >= total):
            break
        arrays = checkpoints.load_chunk(index)
        if arrays is not None:
            chunk_progress.stage()
            chunk = keypoints_from_arrays(arrays, f"checkpoint chunk {index}")
            progress.info(f"resumed: frames {int(chunk.frame_index[0])}-{int(chunk.frame_index[-1])} "
                          "from the checkpoint")
        else:
            try:
                chunk_progress.offset = done - (1 if index else 0)  # the seam frame is counted once
                with open_footage(source, start=a, end=b, stride=stride, mirror=mirror) as part:
                    chunk = detect_keypoints(part, options, chunk_progress)  # type: ignore[arg-type]
            except InputError as exc:
                if index == 0:
                    raise
                progress.info(f"detection stopped at source frame {a}: {exc}")
                break
            checkpoints.save_chunk(index, chunk.to_arrays())
        new_frames = chunk.num_frames - (1 if index else 0)
        if new_frames <= 0:
            break
        chunks.append(chunk)
        done += new_frames
        chunk_progress.stage()
        progress.update(done)
        if chunk.num_frames < size + (1 if index else 0):
            break  # the footage ended inside this chunk
        index += 1
    return stitch(chunks)


__all__ = ["CHECKPOINTS_ENV", "CHUNK_FRAMES", "CHUNK_FRAMES_ENV", "Checkpoints", "check_output_folder",
           "checkpoint_key", "checkpoint_root", "chunk_frames", "chunk_ranges",
           "detect_resumable", "input_fingerprint", "open_checkpoints", "seam_ids", "stitch"]
