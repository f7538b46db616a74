"""The one reader and validator of motion files (``video-mocap-motion/1``, docs/formats.md).

numpy only (no bpy, no torch): the Blender add-on reads motion files with it and the
worker validates what it writes with it (``core.motion.write_motion``). Works with
numpy 1.26 (Blender) and 2.x (worker).

    motion = load_motion("motion.npz")          # raises MotionFileError with a clear message
    for person in motion.people:
        person.valid, person.transl, person.local_axis_angles(motion.avatar.hand_mean)

Every array is validated: presence, dtype kind, shape (one T for all per-frame arrays, one
J for all joint arrays, one V for all vertex arrays), finite values, ranges (confidence
in 0..1, skin weights summing to 1, indices in range). Float arrays are returned as
float32, index arrays as int64 (faces/skin indices int32), flags as bool; arrays are
read-only. A file whose format major version is newer than :data:`FORMAT_VERSION` is
refused ("update the add-on").
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np

FORMAT_NAME = "video-mocap-motion"
FORMAT_VERSION = 1
FORMAT = f"{FORMAT_NAME}/{FORMAT_VERSION}"
FOCAL_SOURCES = ("estimated", "prior", "metadata", "user")
SUBJECTS = ("body", "hands")
AVATAR_MODELS = ("mannequin-x", "smplx", "mano")
NUM_BODY_JOINTS = 55
NUM_HAND_JOINTS = 16

_FORMAT_RE = re.compile(r"^([a-z0-9-]+)/(\d+)(?:\.(\d+))?$")
_PERSON_RE = re.compile(r"^p(\d+)/(.+)$")

_BODY_PERSON_KEYS = ("valid", "confidence", "betas", "global_orient", "body_pose", "left_hand_pose",
                     "right_hand_pose", "jaw_pose", "expression", "transl", "rest_joints", "rest_vertices")
_HAND_PERSON_KEYS = ("side", "valid", "confidence", "global_orient", "hand_pose", "transl", "rest_joints",
                     "rest_vertices")
_AVATAR_KEYS = ("model", "joint_names", "parents", "faces", "skin_indices", "skin_weights", "hand_mean")


class MotionFileError(ValueError):
    """The motion file cannot be used; the message says why (and which key)."""


def _ro(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics of the footage (pixels; OpenCV camera frame)."""

    image_size: np.ndarray      # (2,) int64 W, H px
    focal_px: np.ndarray        # (2,) float32 fx, fy px
    center_px: np.ndarray       # (2,) float32 cx, cy px
    focal_std_px: float         # 1-sigma uncertainty of the focal (0 when given by the user)
    focal_source: str           # estimated | prior | metadata | user
    mirrored: bool = False      # the footage is a mirror image, flipped back before capture

    @property
    def fov_x_deg(self) -> float:
        """Horizontal field of view in degrees."""
        return float(np.degrees(2.0 * np.arctan(0.5 * float(self.image_size[0]) / float(self.focal_px[0]))))

    @property
    def fov_y_deg(self) -> float:
        """Vertical field of view in degrees."""
        return float(np.degrees(2.0 * np.arctan(0.5 * float(self.image_size[1]) / float(self.focal_px[1]))))


@dataclass(frozen=True)
class Avatar:
    """The body model used: skeleton, mesh topology, skin (``avatar/*``)."""

    model: str                       # mannequin-x | smplx | mano
    joint_names: tuple[str, ...]     # J names (SMPL-X or MANO order)
    parents: np.ndarray              # (J,) int64, -1 for the root
    faces: np.ndarray                # (F, 3) int32
    skin_indices: np.ndarray         # (V, 4) int32
    skin_weights: np.ndarray         # (V, 4) float32, rows sum to 1
    hand_mean: np.ndarray            # (30, 3) float32, left 15 then right 15

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_vertices(self) -> int:
        return int(self.skin_indices.shape[0])


@dataclass(frozen=True)
class Person:
    """One tracked person (``subject = body``) or one hand (``subject = hands``).

    Per-frame arrays have T rows (``MotionFile.num_frames``). Body-only fields are None
    for hands and hand-only fields (``side``, ``hand_pose``) None for bodies.
    """

    index: int                         # position i of the p{i}/ keys
    track_id: int                      # person_ids[i]
    valid: np.ndarray                  # (T,) bool
    confidence: np.ndarray             # (T,) float32 0..1
    global_orient: np.ndarray          # (T, 3) axis-angle, camera frame (about the root joint)
    transl: np.ndarray                 # (T, 3) metres, camera frame; root = rest_joints[0] + transl
    rest_joints: np.ndarray            # (J, 3) metres, model frame
    rest_vertices: np.ndarray          # (V, 3) metres, model frame (flat hands)
    betas: np.ndarray | None = None    # (10,)
    body_pose: np.ndarray | None = None        # (T, 21, 3)
    left_hand_pose: np.ndarray | None = None   # (T, 15, 3) offsets from the mean hand
    right_hand_pose: np.ndarray | None = None  # (T, 15, 3)
    jaw_pose: np.ndarray | None = None         # (T, 3)
    expression: np.ndarray | None = None       # (T, E)
    side: str | None = None                    # hands: left | right
    hand_pose: np.ndarray | None = None        # hands: (T, 15, 3) offsets from the mean hand
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)  # other p{i}/ keys (e.g. joints_cam)

    @property
    def num_frames(self) -> int:
        return int(self.valid.shape[0])

    @property
    def valid_ratio(self) -> float:
        return float(self.valid.mean()) if self.valid.size else 0.0

    def local_axis_angles(self, hand_mean: np.ndarray, flat_hand_mean: bool = False) -> np.ndarray:
        """(T, J, 3) float32 local rotation of every avatar joint (axis-angle, radians), the
        mean hand added unless ``flat_hand_mean``: what a rig whose rest is the flat hand needs.

        Body: [global_orient, body_pose (21), jaw, left_eye=0, right_eye=0, left hand (15),
        right hand (15)]. Hands: [global_orient, hand_pose (15)].
        """
        t = self.num_frames
        mean = np.zeros((30, 3), np.float32) if flat_hand_mean else np.asarray(hand_mean, np.float32)
        if self.hand_pose is not None:
            side_mean = mean[:15] if self.side == "left" else mean[15:]
            return np.concatenate((self.global_orient[:, None], self.hand_pose + side_mean), axis=1)
        assert self.body_pose is not None and self.jaw_pose is not None
        assert self.left_hand_pose is not None and self.right_hand_pose is not None
        return np.concatenate((self.global_orient[:, None], self.body_pose, self.jaw_pose[:, None],
                               np.zeros((t, 2, 3), np.float32), self.left_hand_pose + mean[:15],
                               self.right_hand_pose + mean[15:]), axis=1)


@dataclass(frozen=True)
class MotionFile:
    """A validated motion file."""

    format: str
    version: int
    subject: str                       # body | hands
    source: str
    fps: float
    frame_index: np.ndarray            # (T,) int64, increasing
    camera: Camera
    flat_hand_mean: bool
    people: tuple[Person, ...]
    avatar: Avatar
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)  # unknown top-level keys
    path: str = ""

    @property
    def num_frames(self) -> int:
        return int(self.frame_index.shape[0])

    @property
    def num_people(self) -> int:
        return len(self.people)

    @property
    def image_size(self) -> np.ndarray:
        """(2,) width, height of the footage, pixels."""
        return self.camera.image_size

    def person_by_track_id(self, track_id: int) -> Person:
        for person in self.people:
            if person.track_id == track_id:
                return person
        raise KeyError(f"no person with track id {track_id} (ids: {[p.track_id for p in self.people]})")


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------

def load_motion(path: str | PathLike[str]) -> MotionFile:
    """Read and validate a motion file. Raises :class:`MotionFileError` with a clear message."""
    name = str(path)
    try:
        with open(name, "rb") as handle:
            head = handle.read(len(NPY_MAGIC))
        if not head.startswith((ZIP_MAGIC, NPY_MAGIC)):
            raise MotionFileError(_not_an_archive(name, head))
        loaded = np.load(name, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a single .npy array
            raise MotionFileError(f"{name}: a single array, not an .npz motion file")
        with loaded as archive:
            data = {key: archive[key] for key in archive.files}
    except MotionFileError:
        raise
    except FileNotFoundError as exc:
        raise MotionFileError(f"{name}: file not found") from exc
    except IsADirectoryError as exc:
        raise MotionFileError(f"{name}: is a folder, not a motion file") from exc
    except PermissionError as exc:
        raise MotionFileError(f"{name}: permission denied") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise MotionFileError(f"{name}: damaged or truncated (not a complete .npz archive): {exc}") from exc
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise MotionFileError(f"{name}: an .npz holding pickled Python objects; motion files hold "
                                  "plain arrays only (refused for safety)") from exc
        raise MotionFileError(f"{name}: not a readable .npz motion file ({exc})") from exc
    except OSError as exc:
        raise MotionFileError(f"{name}: cannot be read ({exc})") from exc
    return validate_motion(data, path=name)


ZIP_MAGIC = b"PK"  # .npz files are zip archives
NPY_MAGIC = b"\x93NUMPY"


def _not_an_archive(name: str, head: bytes) -> str:
    """Message for a file that is neither an .npz archive nor an .npy array (judged by its first bytes)."""
    if not head:
        return f"{name}: empty file, not a motion file"
    if head[:1] == b"\x80":  # the PROTO opcode that starts a pickle (protocol 2 and later)
        return f"{name}: a pickled Python object, not a motion file (refused, never unpickled)"
    return f"{name}: not a motion file (not a valid .npz archive)"


def validate_motion(data: Mapping[str, np.ndarray], path: str = "<motion>") -> MotionFile:
    """Validate a mapping of arrays (the content of a motion file) and return the typed view."""
    return _Validator(data, path).run()


class _Validator:
    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        self.data = {k: np.asarray(v) for k, v in data.items()}
        self.path = path
        self.used: set[str] = set()

    # -- helpers --------------------------------------------------------------------------
    def fail(self, message: str) -> MotionFileError:
        return MotionFileError(f"{self.path}: {message}")

    def get(self, key: str, required: bool = True) -> np.ndarray | None:
        if key not in self.data:
            if required:
                raise self.fail(f"missing key '{key}'")
            return None
        self.used.add(key)
        arr = self.data[key]
        if arr.dtype == object:
            raise self.fail(f"'{key}' holds Python objects; expected a plain array")
        return arr

    def flag(self, key: str) -> bool:
        """An optional boolean scalar (missing: False)."""
        arr = self.get(key, required=False)
        if arr is None:
            return False
        if arr.dtype != np.bool_ or arr.shape != ():
            raise self.fail(f"'{key}' must be a boolean scalar, got {arr.dtype} {arr.shape}")
        return bool(arr)

    def text(self, key: str, required: bool = True, default: str = "") -> str:
        arr = self.get(key, required)
        if arr is None:
            return default
        if arr.dtype.kind not in "US" or arr.shape != ():
            raise self.fail(f"'{key}' must be a string, got {arr.dtype} {arr.shape}")
        return str(arr.item() if arr.dtype.kind == "U" else arr.item().decode("utf-8", "replace"))

    def floats(self, key: str, shape: tuple[int | None, ...], required: bool = True,
               dims: dict[str, int] | None = None, names: tuple[str, ...] = ()) -> np.ndarray | None:
        """A finite float array of ``shape`` (None = any; names bind sizes in ``dims``)."""
        arr = self.get(key, required)
        if arr is None:
            return None
        if arr.dtype.kind not in "fiu":
            raise self.fail(f"'{key}' must hold numbers, got dtype {arr.dtype}")
        self._shape(key, arr, shape, dims, names)
        out = arr.astype(np.float32)
        bad = ~np.isfinite(out)
        if bad.any():
            raise self.fail(f"'{key}' has {int(bad.sum())} non-finite values (NaN/inf)")
        return _ro(out)

    def ints(self, key: str, shape: tuple[int | None, ...], dims: dict[str, int] | None = None,
             names: tuple[str, ...] = (), dtype: Any = np.int64) -> np.ndarray:
        arr = self.get(key)
        assert arr is not None
        if arr.dtype.kind not in "iu":
            raise self.fail(f"'{key}' must hold integers, got dtype {arr.dtype}")
        self._shape(key, arr, shape, dims, names)
        return _ro(arr.astype(dtype))

    def flags(self, key: str, shape: tuple[int | None, ...], dims: dict[str, int],
              names: tuple[str, ...]) -> np.ndarray:
        arr = self.get(key)
        assert arr is not None
        if arr.dtype != np.bool_:
            raise self.fail(f"'{key}' must be boolean, got dtype {arr.dtype}")
        self._shape(key, arr, shape, dims, names)
        return _ro(arr.copy())

    def _shape(self, key: str, arr: np.ndarray, shape: tuple[int | None, ...],
               dims: dict[str, int] | None, names: tuple[str, ...]) -> None:
        expect = []
        ok = arr.ndim == len(shape)
        for axis, size in enumerate(shape):
            name = names[axis] if axis < len(names) else ""
            if size is None and name and dims is not None:
                if name in dims:
                    size = dims[name]
                elif ok:
                    dims[name] = int(arr.shape[axis])
                    size = dims[name]
            expect.append(str(size) if size is not None else (name or "any"))
            if ok and size is not None and arr.shape[axis] != size:
                ok = False
        if not ok:
            raise self.fail(f"'{key}' has shape {tuple(arr.shape)}, expected ({', '.join(expect)})")

    # -- the schema -------------------------------------------------------------------------
    def run(self) -> MotionFile:
        fmt = self.text("format")
        m = _FORMAT_RE.match(fmt)
        if m is None or m.group(1) != FORMAT_NAME:
            if m is not None and m.group(1) == "video-mocap-keypoints":
                raise self.fail(f"is a keypoints file ({fmt}), not a motion file: run capture on the footage")
            raise self.fail(f"not a motion file (format {fmt!r}, expected '{FORMAT}')")
        version = int(m.group(2))
        if version > FORMAT_VERSION:
            raise self.fail(f"written in motion format version {version}, newer than this version "
                            f"understands ({FORMAT_VERSION}): update the add-on")
        if version < 1:
            raise self.fail(f"unknown motion format version {version}")
        subject = self.text("subject", required=False, default="body")
        if subject not in SUBJECTS:
            raise self.fail(f"'subject' is {subject!r}, expected one of {', '.join(SUBJECTS)}")
        source = self.text("source", required=False)
        fps = self.floats("fps", ())
        assert fps is not None
        if not float(fps) > 0:
            raise self.fail(f"'fps' must be positive, got {float(fps)}")
        dims: dict[str, int] = {}
        frame_index = self.ints("frame_index", (None,), dims, ("T",))
        if dims["T"] < 1:
            raise self.fail("has no frames ('frame_index' is empty)")
        if np.any(np.diff(frame_index) <= 0):
            raise self.fail("'frame_index' must be strictly increasing")
        camera = self.camera()
        flat_hand_mean = self.flag("flat_hand_mean")
        avatar = self.avatar(subject, dims)
        person_ids = self.ints("person_ids", (None,), dims, ("P",))
        if len(set(person_ids.tolist())) != len(person_ids):
            raise self.fail(f"'person_ids' has duplicates: {person_ids.tolist()}")
        people = tuple(self.person(i, int(pid), subject, dims) for i, pid in enumerate(person_ids))
        extras: dict[str, np.ndarray] = {}
        for key in self.data:
            if key in self.used:
                continue
            pm = _PERSON_RE.match(key)
            if pm is not None and int(pm.group(1)) >= len(person_ids):
                raise self.fail(f"key '{key}' belongs to person {pm.group(1)} but 'person_ids' lists "
                                f"{len(person_ids)} people")
            if pm is None:
                extras[key] = _ro(self.data[key])
        return MotionFile(format=fmt, version=version, subject=subject, source=source, fps=float(fps),
                          frame_index=frame_index, camera=camera, flat_hand_mean=flat_hand_mean,
                          people=people, avatar=avatar, extras=extras, path=self.path)

    def camera(self) -> Camera:
        image_size = self.ints("image_size", (2,))
        if np.any(image_size <= 0):
            raise self.fail(f"'image_size' must be positive, got {image_size.tolist()}")
        focal = self.floats("camera_focal_px", (2,))
        center = self.floats("camera_center_px", (2,))
        assert focal is not None and center is not None
        if np.any(focal <= 0):
            raise self.fail(f"'camera_focal_px' must be positive, got {focal.tolist()}")
        std = self.floats("camera_focal_std_px", (), required=False)
        std_value = 0.0 if std is None else float(std)
        if std_value < 0:
            raise self.fail(f"'camera_focal_std_px' must be >= 0, got {std_value}")
        source = self.text("camera_focal_source", required=False, default="estimated")
        if source not in FOCAL_SOURCES:
            raise self.fail(f"'camera_focal_source' is {source!r}, "
                            f"expected one of {', '.join(FOCAL_SOURCES)}")
        return Camera(image_size=image_size, focal_px=focal, center_px=center, focal_std_px=std_value,
                      focal_source=source, mirrored=self.flag("footage_mirrored"))

    def avatar(self, subject: str, dims: dict[str, int]) -> Avatar:
        model = self.text("avatar/model")
        if model not in AVATAR_MODELS:
            raise self.fail(f"'avatar/model' is {model!r}, expected one of {', '.join(AVATAR_MODELS)}")
        if (subject == "hands") != (model == "mano"):
            raise self.fail(f"'avatar/model' {model!r} does not fit subject {subject!r}")
        names_arr = self.get("avatar/joint_names")
        assert names_arr is not None
        if names_arr.dtype.kind != "U" or names_arr.ndim != 1:
            raise self.fail(f"'avatar/joint_names' must be a 1-D string array, got {names_arr.dtype} "
                            f"{names_arr.shape}")
        expected_j = NUM_HAND_JOINTS if subject == "hands" else NUM_BODY_JOINTS
        if names_arr.shape[0] != expected_j:
            raise self.fail(f"'avatar/joint_names' has {names_arr.shape[0]} joints, expected {expected_j}")
        dims["J"] = expected_j
        parents = self.ints("avatar/parents", (None,), dims, ("J",))
        if parents[0] != -1 or np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, len(parents))):
            raise self.fail("'avatar/parents' must have -1 for joint 0 and each parent before its child")
        skin_indices = self.ints("avatar/skin_indices", (None, 4), dims, ("V",), dtype=np.int32)
        if np.any(skin_indices < 0) or np.any(skin_indices >= dims["J"]):
            raise self.fail("'avatar/skin_indices' has joint indices out of range")
        skin_weights = self.floats("avatar/skin_weights", (None, 4), dims=dims, names=("V",))
        assert skin_weights is not None
        if np.any(skin_weights < 0) or np.any(np.abs(skin_weights.sum(1) - 1.0) > 1e-3):
            raise self.fail("'avatar/skin_weights' must be >= 0 with rows summing to 1")
        faces = self.ints("avatar/faces", (None, 3), dtype=np.int32)
        if faces.size and (faces.min() < 0 or faces.max() >= dims["V"]):
            raise self.fail("'avatar/faces' has vertex indices out of range")
        hand_mean = self.floats("avatar/hand_mean", (30, 3))
        assert hand_mean is not None
        return Avatar(model=model, joint_names=tuple(str(n) for n in names_arr), parents=parents, faces=faces,
                      skin_indices=skin_indices, skin_weights=skin_weights, hand_mean=hand_mean)

    def person(self, i: int, track_id: int, subject: str, dims: dict[str, int]) -> Person:
        p = f"p{i}/"
        keys = _HAND_PERSON_KEYS if subject == "hands" else _BODY_PERSON_KEYS
        missing = [p + k for k in keys if p + k not in self.data]
        if missing:
            raise self.fail(f"person {i} (track {track_id}) lacks {', '.join(missing)}")
        t = ("T",)
        valid = self.flags(p + "valid", (None,), dims, t)
        confidence = self.floats(p + "confidence", (None,), dims=dims, names=t)
        assert confidence is not None
        if np.any(confidence < 0) or np.any(confidence > 1):
            raise self.fail(f"'{p}confidence' must lie in 0..1")
        common: dict[str, Any] = dict(
            index=i, track_id=track_id, valid=valid, confidence=confidence,
            global_orient=self.floats(p + "global_orient", (None, 3), dims=dims, names=t),
            transl=self.floats(p + "transl", (None, 3), dims=dims, names=t),
            rest_joints=self.floats(p + "rest_joints", (None, 3), dims=dims, names=("J",)),
            rest_vertices=self.floats(p + "rest_vertices", (None, 3), dims=dims, names=("V",)),
        )
        if subject == "hands":
            side = self.text(p + "side")
            if side not in ("left", "right"):
                raise self.fail(f"'{p}side' is {side!r}, expected left or right")
            person = Person(**common, side=side,
                            hand_pose=self.floats(p + "hand_pose", (None, 15, 3), dims=dims, names=t),
                            betas=self.floats(p + "betas", (10,), required=False))
        else:
            person = Person(
                **common,
                betas=self.floats(p + "betas", (10,)),
                body_pose=self.floats(p + "body_pose", (None, 21, 3), dims=dims, names=t),
                left_hand_pose=self.floats(p + "left_hand_pose", (None, 15, 3), dims=dims, names=t),
                right_hand_pose=self.floats(p + "right_hand_pose", (None, 15, 3), dims=dims, names=t),
                jaw_pose=self.floats(p + "jaw_pose", (None, 3), dims=dims, names=t),
                expression=self.floats(p + "expression", (None, None), dims=dims, names=t))
        extras = {}
        for key in self.data:
            if key.startswith(p) and key not in self.used:
                self.used.add(key)
                extras[key[len(p):]] = _ro(self.data[key])
        return Person(**{**person.__dict__, "extras": extras})
