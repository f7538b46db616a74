"""The keypoints file ``video-mocap-keypoints/1`` (core detect -> core fit).

Exactly the layout of docs/formats.md: one ``.npz`` readable with ``allow_pickle=False``,
per-person keys ``p{i}/...`` where ``i`` is the position in ``person_ids``. Unknown values
are 0 with confidence 0, never NaN. Written atomically (temporary file + ``os.replace``).
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from core.atomic_file import write_atomic
from core.errors import InputError, OutputError

FORMAT = "video-mocap-keypoints/1"
NUM_BODY = 33
NUM_HAND = 21
NUM_FACE = 468

# per-person key -> (shape after T, dtype)
PERSON_FIELDS: dict[str, tuple[tuple[int, ...], type]] = {
    "valid": ((), np.bool_),
    "box": ((4,), np.float32),
    "body_2d": ((NUM_BODY, 2), np.float32),
    "body_3d": ((NUM_BODY, 3), np.float32),
    "body_conf": ((NUM_BODY,), np.float32),
    "left_hand_2d": ((NUM_HAND, 2), np.float32),
    "right_hand_2d": ((NUM_HAND, 2), np.float32),
    "left_hand_3d": ((NUM_HAND, 3), np.float32),
    "right_hand_3d": ((NUM_HAND, 3), np.float32),
    "left_hand_conf": ((NUM_HAND,), np.float32),
    "right_hand_conf": ((NUM_HAND,), np.float32),
    "face_2d": ((NUM_FACE, 3), np.float32),
    "face_conf": ((), np.float32),
}


@dataclass
class PersonKeypoints:
    """All keypoints of one tracked person over T frames (shapes in PERSON_FIELDS, units px / metres)."""

    id: int
    valid: np.ndarray
    box: np.ndarray
    body_2d: np.ndarray
    body_3d: np.ndarray
    body_conf: np.ndarray
    left_hand_2d: np.ndarray
    right_hand_2d: np.ndarray
    left_hand_3d: np.ndarray
    right_hand_3d: np.ndarray
    left_hand_conf: np.ndarray
    right_hand_conf: np.ndarray
    face_2d: np.ndarray
    face_conf: np.ndarray

    @classmethod
    def empty(cls, person_id: int, num_frames: int) -> "PersonKeypoints":
        """A person never seen: every value 0, ``valid`` all False."""
        arrays = {name: np.zeros((num_frames, *shape), dtype=dtype)
                  for name, (shape, dtype) in PERSON_FIELDS.items()}
        return cls(id=int(person_id), **arrays)


@dataclass
class Keypoints:
    """In-memory keypoints file.

    Attributes:
        source: the input path as given.
        fps: frames per second of the rows (source fps / stride).
        image_size: (W, H) px.
        frame_index: (T,) source frame number of each row.
        people: one entry per tracked person, in ``person_ids`` order.
        horizon: (3,) the scene's horizon ``a x + b y + c = 0`` in px ((a, b) unit, b > 0), or
            zeros where none was found (:mod:`core.horizon`).
        scene_focal: (2,) the focal (px) the scene's lines at right angles give (the horizon's
            families, with the vertical where it shows), and its 1-sigma in log focal
            (:mod:`core.scene_focal`), or zeros.
        mirrored: the footage was a mirror image and its frames were flipped back before
            detection (pixels are those of the flipped frames; :func:`core.footage.open_footage`).
        lens_35mm: the 35 mm-equivalent focal length the footage's own metadata states (mm;
            :mod:`core.lens_metadata`), 0 where it states none.
        timings: seconds spent per stage (not saved; for benchmarks and summaries).
    """

    source: str
    fps: float
    image_size: tuple[int, int]
    frame_index: np.ndarray
    people: list[PersonKeypoints] = field(default_factory=list)
    horizon: np.ndarray = field(default_factory=lambda: np.zeros(3))
    scene_focal: np.ndarray = field(default_factory=lambda: np.zeros(2))
    mirrored: bool = False
    lens_35mm: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def person_ids(self) -> np.ndarray:
        return np.array([p.id for p in self.people], dtype=np.int64)

    @property
    def num_frames(self) -> int:
        return int(len(self.frame_index))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The npz content (key -> array), exactly as documented."""
        out: dict[str, np.ndarray] = {
            "format": np.array(FORMAT),
            "source": np.array(str(self.source)),
            "fps": np.array(float(self.fps), dtype=np.float64),
            "image_size": np.array(self.image_size, dtype=np.int64).reshape(2),
            "frame_index": np.asarray(self.frame_index, dtype=np.int64).reshape(-1),
            "person_ids": self.person_ids,
            "horizon": np.asarray(self.horizon, dtype=np.float64).reshape(3),
            "scene_focal": np.asarray(self.scene_focal, dtype=np.float64).reshape(2),
            "footage_mirrored": np.array(bool(self.mirrored)),
            "footage_lens_35mm": np.array(float(self.lens_35mm), dtype=np.float64),
        }
        for i, person in enumerate(self.people):
            for name, (shape, dtype) in PERSON_FIELDS.items():
                value = np.asarray(getattr(person, name), dtype=dtype)
                out[f"p{i}/{name}"] = np.nan_to_num(value) if dtype != np.bool_ else value
        return out


def save_keypoints(keypoints: Keypoints, path: str | os.PathLike[str]) -> Path:
    """Write ``keypoints`` to ``path`` atomically (a partial file is never left behind).

    Raises:
        InputError: the content does not follow the format (wrong shapes).
        OutputError: the folder is missing or not writable.
    """
    validate(keypoints)
    target = Path(path)
    arrays = keypoints.to_arrays()
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: folder {folder} does not exist")

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    write_atomic(target, write)
    return target


def validate(keypoints: Keypoints) -> None:
    """Check shapes and values; raises InputError naming the first problem."""
    t = keypoints.num_frames
    if len(keypoints.image_size) != 2 or min(int(v) for v in keypoints.image_size) < 1:
        raise InputError(f"keypoints: bad image_size {keypoints.image_size}")
    if not np.isfinite(keypoints.fps) or keypoints.fps <= 0:
        raise InputError(f"keypoints: bad fps {keypoints.fps}")
    horizon = np.asarray(keypoints.horizon, dtype=np.float64)
    if horizon.shape != (3,) or not np.isfinite(horizon).all():
        raise InputError(f"keypoints: horizon must be 3 finite numbers, got {horizon.tolist()}")
    if horizon.any() and np.hypot(horizon[0], horizon[1]) < 1e-9:
        raise InputError(f"keypoints: horizon {horizon.tolist()} is not a line")
    scene = np.asarray(keypoints.scene_focal, dtype=np.float64)
    if (scene.shape != (2,) or not np.isfinite(scene).all() or (scene < 0).any()
            or (scene[0] > 0) != (scene[1] > 0)):
        raise InputError(f"keypoints: scene_focal must be a focal (px) and its log 1-sigma, both > 0, "
                         f"or zeros; got {scene.tolist()}")
    ids = keypoints.person_ids
    if len(set(ids.tolist())) != len(ids):
        raise InputError(f"keypoints: person ids are not unique: {ids.tolist()}")
    for person in keypoints.people:
        for name, (shape, _dtype) in PERSON_FIELDS.items():
            value = np.asarray(getattr(person, name))
            if value.shape != (t, *shape):
                raise InputError(f"keypoints: person {person.id} {name} has shape {value.shape}, "
                                 f"expected {(t, *shape)}")
            if value.dtype != np.bool_ and not np.isfinite(value).all():
                raise InputError(f"keypoints: person {person.id} {name} holds NaN or infinite values")


def load_keypoints(path: str | os.PathLike[str]) -> Keypoints:
    """Read and validate a keypoints file.

    Raises:
        InputError: missing, unreadable, not a keypoints file, a newer version, or malformed.
    """
    source = Path(path)
    if not source.is_file():
        raise InputError(f"keypoints file not found: {source}")
    try:
        with np.load(source, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{source} is not a readable keypoints file (.npz): {exc}") from exc
    fmt = str(arrays.get("format", ""))
    if not fmt.startswith("video-mocap-keypoints/"):
        raise InputError(f"{source} is not a keypoints file (format {fmt or 'missing'!r}; "
                         f"expected {FORMAT!r})")
    if fmt != FORMAT:
        raise InputError(f"{source} has format {fmt!r}; this version reads {FORMAT!r} (update the add-on)")
    return keypoints_from_arrays(arrays, str(source))


def keypoints_from_arrays(arrays: Mapping[str, np.ndarray], source: str = "keypoints") -> Keypoints:
    """A validated :class:`Keypoints` from a file's arrays (key -> array, as :meth:`Keypoints.to_arrays`
    writes them; ``horizon`` and ``scene_focal`` may be missing: zeros; ``footage_mirrored`` may be
    missing: False;
    ``footage_lens_35mm`` may be missing: 0).
    ``source`` names them in errors.

    Raises:
        InputError: a key is missing or a value is malformed.
    """
    for key in ("source", "fps", "image_size", "frame_index", "person_ids"):
        if key not in arrays:
            raise InputError(f"{source}: key {key!r} is missing")
    try:
        ids = arrays["person_ids"].astype(np.int64).reshape(-1)
        t = int(arrays["frame_index"].reshape(-1).shape[0])
        people = []
        for i, person_id in enumerate(ids):
            fields = {}
            for name, (shape, dtype) in PERSON_FIELDS.items():
                key = f"p{i}/{name}"
                if key not in arrays:
                    raise InputError(f"{source}: key {key!r} is missing")
                fields[name] = arrays[key].astype(dtype, copy=False)
            people.append(PersonKeypoints(id=int(person_id), **fields))
        size = arrays["image_size"].astype(np.int64).reshape(-1)
        keypoints = Keypoints(source=str(arrays["source"]), fps=float(arrays["fps"]),
                              image_size=(int(size[0]), int(size[1])) if size.size == 2 else tuple(size),
                              frame_index=arrays["frame_index"].astype(np.int64).reshape(t),
                              people=people,
                              horizon=arrays["horizon"].astype(np.float64).reshape(3) if "horizon" in arrays
                              else np.zeros(3),
                              scene_focal=arrays["scene_focal"].astype(np.float64).reshape(-1)
                              if "scene_focal" in arrays else np.zeros(2),
                              mirrored=_flag(arrays, "footage_mirrored", source),
                              lens_35mm=_lens(arrays, source))
    except (TypeError, ValueError) as exc:
        raise InputError(f"{source}: malformed keypoints file: {exc}") from exc
    validate(keypoints)
    return keypoints


def _lens(arrays: Mapping[str, np.ndarray], source: str) -> float:
    """The optional ``footage_lens_35mm`` (missing: 0): one finite number >= 0, else an InputError."""
    if "footage_lens_35mm" not in arrays:
        return 0.0
    value = np.asarray(arrays["footage_lens_35mm"])
    if value.shape != () or value.dtype.kind not in "fiu" or not np.isfinite(value) or value < 0:
        raise InputError(f"{source}: 'footage_lens_35mm' must be one number >= 0 (mm), got "
                         f"{value.dtype} {list(value.shape)}")
    return float(value)


def _flag(arrays: Mapping[str, np.ndarray], key: str, source: str) -> bool:
    """An optional boolean key (missing: False); anything but one boolean is an InputError."""
    if key not in arrays:
        return False
    value = np.asarray(arrays[key])
    if value.shape != () or value.dtype != np.bool_:
        raise InputError(f"{source}: {key!r} must be one boolean, got {value.dtype} {list(value.shape)}")
    return bool(value)
