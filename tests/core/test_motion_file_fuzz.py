"""Property tests: whatever file addon.motion_file.load_motion is given, it returns a valid
MotionFile or raises MotionFileError: never another exception, never NaN/inf or a wrong shape.

Inputs: random bytes; random npz archives (random keys from the real key set and beyond,
random shapes and dtypes, object arrays); a real motion file (made by core.motion.write_motion)
with NaN/inf injected, keys dropped, arrays reshaped or retyped, or its zip bytes flipped.
MOTION_FUZZ_EXAMPLES=2000 runs a longer search (default 50 examples per test).
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as _event
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from addon.motion_file import MotionFile, MotionFileError, load_motion
from core.motion import CameraParams, PersonParams, body_motion, write_motion
from models.body import load_body_model

FUZZ = settings(max_examples=int(os.environ.get("MOTION_FUZZ_EXAMPLES", "50")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def valid() -> dict[str, np.ndarray]:
    """A real two-person motion file's arrays (written and read back once)."""
    frames = 6
    rng = np.random.default_rng(0)
    people = [PersonParams(track_id=k, betas=rng.normal(0, 1, 10), global_orient=rng.normal(0, 1, (frames, 3)),
                           body_pose=rng.normal(0, 0.3, (frames, 21, 3)),
                           left_hand_pose=rng.normal(0, 0.3, (frames, 15, 3)),
                           right_hand_pose=rng.normal(0, 0.3, (frames, 15, 3)), jaw_pose=np.zeros((frames, 3)),
                           transl=rng.normal(0, 1, (frames, 3)) + [0, 0, 4], valid=rng.random(frames) > 0.2,
                           confidence=rng.random(frames)) for k in (3, 8)]
    data = body_motion(people, load_body_model("mannequin-x"), fps=30.0, image_size=(640, 480),
                       frame_index=np.arange(frames) * 2, camera=CameraParams((900.0, 900.0), (320.0, 240.0)),
                       source="clip.mp4")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.npz"
        write_motion(path, data)
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="motion_fuzz_") as tmp:
        yield Path(tmp)


def event(text: str) -> None:
    """hypothesis.event inside a property test; nothing outside one."""
    try:
        _event(text)
    except Exception:  # noqa: BLE001 - InvalidArgument outside @given
        pass


def check(path: Path) -> MotionFile | None:
    """load_motion's contract: a MotionFile whose arrays are finite and consistently shaped, or
    MotionFileError (returned as None). Anything else fails the test."""
    try:
        motion = load_motion(path)
    except MotionFileError as exc:
        assert str(exc), "empty message"
        assert "Traceback" not in str(exc)
        event(f"refused: {str(exc).split(': ', 1)[-1][:40]}")
        return None
    assert isinstance(motion, MotionFile)
    t = motion.num_frames
    assert t >= 1 and motion.frame_index.shape == (t,)
    for person in motion.people:
        for name in ("global_orient", "transl"):
            value = getattr(person, name)
            assert value.shape == (t, 3) and np.isfinite(value).all(), name
    event("accepted")
    return motion


def _save(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


# -- random bytes -------------------------------------------------------------------------------------

@FUZZ
@given(data=st.binary(max_size=2048), zip_magic=st.booleans())
def test_random_bytes(workdir: Path, data: bytes, zip_magic: bool) -> None:
    path = workdir / "m.npz"
    path.write_bytes((b"PK\x03\x04" if zip_magic else b"") + data)
    check(path)


# -- random npz archives ----------------------------------------------------------------------------

KEY_POOL = ["format", "subject", "source", "fps", "image_size", "frame_index", "camera_focal_px",
            "camera_center_px", "camera_focal_std_px", "camera_focal_source", "person_ids", "flat_hand_mean",
            "p0/valid", "p0/betas", "p0/global_orient", "p0/body_pose", "p0/left_hand_pose",
            "p0/right_hand_pose", "p0/jaw_pose", "p0/expression", "p0/transl", "p0/confidence",
            "p0/rest_joints", "p0/rest_vertices", "p0/side", "p0/hand_pose", "p1/transl", "p7/valid",
            "avatar/model", "avatar/joint_names", "avatar/parents", "avatar/faces", "avatar/skin_indices",
            "avatar/skin_weights", "avatar/hand_mean", "extra", "p/x", "../evil"]
DTYPES = st.sampled_from([np.float32, np.float64, np.int32, np.int64, np.bool_, np.uint8, np.complex64,
                          np.dtype("<U8"), np.dtype("S4"), np.float16])
ARRAYS = DTYPES.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5)))
STRINGS = st.sampled_from(["video-mocap-motion/1", "video-mocap-motion/9", "video-mocap-keypoints/1", "body",
                           "hands", "mannequin-x", "", "garbage/1.0", "video-mocap-motion/x"])


@FUZZ
@given(content=st.dictionaries(st.one_of(st.sampled_from(KEY_POOL), st.text(min_size=1, max_size=12)),
                               st.one_of(ARRAYS, STRINGS.map(np.array)), max_size=14))
def test_random_npz(workdir: Path, content: dict[str, np.ndarray]) -> None:
    safe = {k: v for k, v in content.items() if "\x00" not in k and not k.startswith("/")}
    check(_save(workdir / "m.npz", safe))


@FUZZ
@given(with_object=st.sampled_from(["format", "p0/body_pose", "avatar/joint_names", "new_key"]))
def test_object_arrays_are_refused(workdir: Path, valid: dict[str, np.ndarray], with_object: str) -> None:
    arrays: dict[str, object] = dict(valid)
    arrays[with_object] = np.array([{"a": 1}, None], dtype=object)
    path = workdir / "m.npz"
    np.savez(path, **arrays)  # numpy pickles object arrays
    assert check(path) is None


# -- a real file, mutated --------------------------------------------------------------------------

def _float_keys(valid: dict[str, np.ndarray]) -> list[str]:
    return sorted(k for k, v in valid.items() if v.dtype.kind == "f" and v.size > 0)


@FUZZ
@given(data=st.data(), value=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_nan_and_inf_are_refused(workdir: Path, valid: dict[str, np.ndarray], data: st.DataObject,
                                 value: float) -> None:
    key = data.draw(st.sampled_from(_float_keys(valid)), label="key")
    arrays = dict(valid)
    changed = arrays[key].astype(np.float64 if arrays[key].dtype == np.float64 else arrays[key].dtype, copy=True)
    flat = changed.reshape(-1)
    flat[data.draw(st.integers(0, flat.size - 1), label="index")] = value
    arrays[key] = changed
    assert check(_save(workdir / "m.npz", arrays)) is None, f"{value} in {key} was accepted"


@FUZZ
@given(data=st.data())
def test_mutated_real_file(workdir: Path, valid: dict[str, np.ndarray], data: st.DataObject) -> None:
    arrays = dict(valid)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        key = data.draw(st.sampled_from(sorted(arrays)), label="key")
        action = data.draw(st.sampled_from(["drop", "reshape", "retype", "truncate", "empty", "scalar"]),
                           label="action")
        value = arrays[key]
        if action == "drop":
            del arrays[key]
        elif action == "reshape" and value.size > 1:
            arrays[key] = value.reshape(-1)
        elif action == "retype":
            target = data.draw(st.sampled_from(["f4", "i8", "?", "U4", "u1"]), label="dtype")
            try:
                arrays[key] = value.astype(target)
            except (ValueError, TypeError):
                arrays[key] = np.zeros(value.shape, target)
        elif action == "truncate" and value.ndim >= 1 and len(value) > 1:
            arrays[key] = value[:-1]
        elif action == "empty":
            arrays[key] = value[:0] if value.ndim else np.zeros(0)
        elif action == "scalar":
            arrays[key] = np.array(data.draw(st.floats(allow_nan=True, allow_infinity=True), label="scalar"))
    check(_save(workdir / "m.npz", arrays))


@pytest.fixture(scope="module")
def valid_bytes(valid: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **valid)
    return buffer.getvalue()


@FUZZ
@given(data=st.data())
def test_flipped_bytes_in_the_archive(workdir: Path, valid_bytes: bytes, data: st.DataObject) -> None:
    raw = bytearray(valid_bytes)
    for _ in range(data.draw(st.integers(1, 8), label="flips")):
        at = data.draw(st.integers(0, len(raw) - 1), label="at")
        raw[at] ^= data.draw(st.integers(1, 255), label="xor")
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))), label="cut")
    path = workdir / "m.npz"
    path.write_bytes(bytes(raw[:cut]))
    check(path)


def test_the_valid_file_passes_the_same_checks(workdir: Path, valid: dict[str, np.ndarray]) -> None:
    motion = check(_save(workdir / "m.npz", valid))
    assert motion is not None and motion.num_people == 2 and motion.num_frames == 6
