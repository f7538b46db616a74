"""The motion-file reader/validator (addon.motion_file) and the atomic writer (core.motion).

numpy only: runs in the Blender environments (numpy 1.26) and in the worker (numpy 2).
"""

from __future__ import annotations

import errno
import os
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import core.motion as motion_module
from addon.motion_file import FORMAT, MotionFileError, load_motion, validate_motion
from core.errors import OutputError
from core.motion import write_motion
from models.skeleton import MANO_JOINT_NAMES, MANO_PARENTS, SMPLX_JOINT_NAMES, SMPLX_PARENTS

pytestmark = pytest.mark.compat42


def body_arrays(num_people: int = 2, frames: int = 6, verts: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """A small, valid body motion dict built with numpy alone."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {
        "format": np.asarray(FORMAT), "subject": np.asarray("body"), "source": np.asarray("clip.mp4"),
        "fps": np.asarray(30.0), "image_size": np.asarray([640, 480]),
        "frame_index": np.arange(frames) * 2, "camera_focal_px": np.asarray([800.0, 800.0]),
        "camera_center_px": np.asarray([320.0, 240.0]), "camera_focal_std_px": np.asarray(25.0),
        "camera_focal_source": np.asarray("estimated"), "person_ids": np.asarray([7, 3][:num_people]),
        "flat_hand_mean": np.asarray(False),
        "avatar/model": np.asarray("mannequin-x"), "avatar/joint_names": np.asarray(SMPLX_JOINT_NAMES),
        "avatar/parents": np.asarray(SMPLX_PARENTS), "avatar/faces": rng.integers(0, verts, (20, 3)).astype(np.int32),
        "avatar/skin_indices": rng.integers(0, 55, (verts, 4)).astype(np.int32),
        "avatar/skin_weights": np.full((verts, 4), 0.25, np.float32),
        "avatar/hand_mean": rng.normal(0, 0.2, (30, 3)).astype(np.float32),
    }
    for i in range(num_people):
        data.update({
            f"p{i}/valid": rng.random(frames) > 0.3, f"p{i}/confidence": rng.random(frames).astype(np.float32),
            f"p{i}/betas": rng.normal(0, 1, 10).astype(np.float32),
            f"p{i}/global_orient": rng.normal(0, 1, (frames, 3)).astype(np.float32),
            f"p{i}/body_pose": rng.normal(0, 0.3, (frames, 21, 3)).astype(np.float32),
            f"p{i}/left_hand_pose": rng.normal(0, 0.3, (frames, 15, 3)).astype(np.float32),
            f"p{i}/right_hand_pose": rng.normal(0, 0.3, (frames, 15, 3)).astype(np.float32),
            f"p{i}/jaw_pose": rng.normal(0, 0.1, (frames, 3)).astype(np.float32),
            f"p{i}/expression": np.zeros((frames, 10), np.float32),
            f"p{i}/transl": rng.normal(0, 1, (frames, 3)).astype(np.float32),
            f"p{i}/rest_joints": rng.normal(0, 0.3, (55, 3)).astype(np.float32),
            f"p{i}/rest_vertices": rng.normal(0, 0.3, (verts, 3)).astype(np.float32),
        })
    return data


def hand_arrays(frames: int = 4, verts: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    data = {k: v for k, v in body_arrays(0, frames, verts).items()}
    data.update({"subject": np.asarray("hands"), "person_ids": np.asarray([0, 1]),
                 "avatar/model": np.asarray("mano"), "avatar/joint_names": np.asarray(MANO_JOINT_NAMES),
                 "avatar/parents": np.asarray(MANO_PARENTS),
                 "avatar/skin_indices": rng.integers(0, 16, (verts, 4)).astype(np.int32)})
    for i, side in enumerate(("left", "right")):
        data.update({
            f"p{i}/side": np.asarray(side), f"p{i}/valid": np.ones(frames, bool),
            f"p{i}/confidence": np.full(frames, 0.9, np.float32),
            f"p{i}/global_orient": rng.normal(0, 1, (frames, 3)), f"p{i}/hand_pose": rng.normal(0, 1, (frames, 15, 3)),
            f"p{i}/transl": rng.normal(0, 1, (frames, 3)), f"p{i}/rest_joints": rng.normal(0, 0.05, (16, 3)),
            f"p{i}/rest_vertices": rng.normal(0, 0.05, (verts, 3)),
        })
    return data


def test_round_trip_body(tmp_path: Path) -> None:
    data = body_arrays()
    data["p1/joints_cam"] = np.zeros((6, 55, 3), np.float32)
    data["camera_focal_mm"] = np.asarray(35.0)
    path = tmp_path / "motion.npz"
    written = write_motion(path, data)
    motion = load_motion(path)
    assert written.num_frames == motion.num_frames == 6
    assert motion.version == 1 and motion.subject == "body" and motion.source == "clip.mp4"
    assert motion.fps == 30.0 and motion.frame_index.tolist() == [0, 2, 4, 6, 8, 10]
    assert motion.camera.focal_source == "estimated" and motion.camera.focal_std_px == 25.0
    assert motion.camera.fov_x_deg == pytest.approx(2 * np.degrees(np.arctan(320 / 800)))
    assert [p.track_id for p in motion.people] == [7, 3]
    assert motion.person_by_track_id(3).index == 1
    assert motion.avatar.joint_names == SMPLX_JOINT_NAMES and motion.avatar.num_vertices == 12
    for i, person in enumerate(motion.people):
        for key in ("valid", "confidence", "betas", "global_orient", "body_pose", "left_hand_pose",
                    "right_hand_pose", "jaw_pose", "expression", "transl", "rest_joints", "rest_vertices"):
            np.testing.assert_array_equal(getattr(person, key), data[f"p{i}/{key}"])
        assert person.body_pose.dtype == np.float32 and person.valid.dtype == np.bool_
        assert person.hand_pose is None and person.side is None
        assert not person.transl.flags.writeable
    assert "joints_cam" in motion.people[1].extras and float(motion.extras["camera_focal_mm"]) == 35.0
    local = motion.people[0].local_axis_angles(motion.avatar.hand_mean)
    assert local.shape == (6, 55, 3)
    np.testing.assert_allclose(local[:, 25:40], data["p0/left_hand_pose"] + data["avatar/hand_mean"][:15], atol=1e-6)
    np.testing.assert_array_equal(local[:, 23:25], 0.0)
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


@pytest.mark.parametrize("source", ["estimated", "prior", "metadata", "user"])
def test_every_focal_source_reads_back(tmp_path: Path, source: str) -> None:
    data = body_arrays()
    data["camera_focal_source"] = np.asarray(source)
    write_motion(tmp_path / "motion.npz", data)
    assert load_motion(tmp_path / "motion.npz").camera.focal_source == source


def test_round_trip_hands(tmp_path: Path) -> None:
    write_motion(tmp_path / "hands.npz", hand_arrays())
    motion = load_motion(tmp_path / "hands.npz")
    assert motion.subject == "hands" and motion.avatar.model == "mano" and motion.avatar.num_joints == 16
    left, right = motion.people
    assert (left.side, right.side) == ("left", "right") and left.body_pose is None
    local = right.local_axis_angles(motion.avatar.hand_mean)
    assert local.shape == (4, 16, 3)
    np.testing.assert_allclose(local[:, 1:], right.hand_pose + motion.avatar.hand_mean[15:], atol=1e-6)


@pytest.mark.parametrize("key, value, message", [
    ("p0/transl", "nan", "non-finite"),
    ("p1/body_pose", "inf", "non-finite"),
    ("avatar/hand_mean", "nan", "non-finite"),
    ("p0/body_pose", np.zeros((6, 20, 3), np.float32), r"shape \(6, 20, 3\), expected \(T, 21, 3\)|expected \(6, 21, 3\)"),
    ("p1/transl", np.zeros((5, 3), np.float32), "expected"),
    ("p0/rest_vertices", np.zeros((11, 3), np.float32), "expected"),
    ("p0/rest_joints", np.zeros((54, 3), np.float32), "expected"),
    ("p0/valid", np.ones(6, np.uint8), "boolean"),
    ("p0/confidence", np.full(6, 1.5, np.float32), "0..1"),
    ("format", np.asarray("video-mocap-motion/2"), "newer.*update the add-on"),
    ("format", np.asarray("video-mocap-keypoints/1"), "keypoints file"),
    ("format", np.asarray("something-else/1"), "not a motion file"),
    ("fps", np.asarray(0.0), "positive"),
    ("frame_index", np.asarray([0, 1, 1, 2, 3, 4]), "increasing"),
    ("person_ids", np.asarray([3, 3]), "duplicates"),
    ("avatar/skin_weights", np.full((12, 4), 0.3, np.float32), "summing to 1"),
    ("avatar/faces", np.full((20, 3), 12, np.int32), "out of range"),
    ("avatar/skin_indices", np.full((12, 4), 55, np.int32), "out of range"),
    ("avatar/model", np.asarray("mano"), "does not fit"),
    ("camera_focal_source", np.asarray("guess"), "camera_focal_source"),
    ("footage_mirrored", np.asarray(1), "footage_mirrored.*boolean"),
    ("flat_hand_mean", np.asarray([True, False]), "flat_hand_mean.*boolean"),
    ("p2/transl", np.zeros((6, 3), np.float32), "person 2"),
    ("p0/betas", np.asarray(["a"] * 10), "numbers"),
])
def test_validator_refuses(tmp_path: Path, key: str, value: object, message: str) -> None:
    data = body_arrays()
    if isinstance(value, str) and value in ("nan", "inf"):
        bad = data[key].copy()
        bad.reshape(-1)[3] = np.nan if value == "nan" else np.inf
        value = bad
    data[key] = value
    with pytest.raises(MotionFileError, match=message):
        validate_motion(data)
    path = tmp_path / "bad.npz"
    np.savez(path, **data)
    with pytest.raises(MotionFileError, match=message):
        load_motion(path)
    with pytest.raises(MotionFileError):
        write_motion(tmp_path / "out.npz", data)
    assert not (tmp_path / "out.npz").exists()


@pytest.mark.parametrize("key", ["format", "p0/body_pose", "avatar/faces", "camera_focal_px", "p1/rest_vertices"])
def test_missing_keys(key: str) -> None:
    data = body_arrays()
    del data[key]
    with pytest.raises(MotionFileError, match=key.split("/")[-1]):
        validate_motion(data)


def test_damaged_files(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    write_motion(good, body_arrays())
    raw = good.read_bytes()
    for n, cut in enumerate((len(raw) // 2, len(raw) - 30, 100)):
        damaged = tmp_path / f"cut{n}.npz"
        damaged.write_bytes(raw[:cut])
        with pytest.raises(MotionFileError, match="damaged or truncated|not a readable|cannot be read"):
            load_motion(damaged)
    corrupt = bytearray(raw)
    corrupt[len(raw) // 3: len(raw) // 3 + 64] = b"\x00" * 64  # damage the compressed stream
    (tmp_path / "corrupt.npz").write_bytes(bytes(corrupt))
    with pytest.raises(MotionFileError):
        load_motion(tmp_path / "corrupt.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(MotionFileError):
        load_motion(tmp_path / "text.npz")
    with pytest.raises(MotionFileError, match="not found"):
        load_motion(tmp_path / "missing.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    with pytest.raises(MotionFileError, match="single array"):
        load_motion(tmp_path / "single.npy")
    # pickled objects are refused, never unpickled
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(tmp_path / "pickled.npz", "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, zin.read(item.filename))
        np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
        zout.write(tmp_path / "obj.npy", "p0/notes.npy")
    with pytest.raises(MotionFileError, match="an .npz holding pickled Python objects"):
        load_motion(tmp_path / "pickled.npz")


@pytest.mark.parametrize("content, message", [
    (bytes(range(7, 256)) * 4, r"not a motion file \(not a valid \.npz archive\)"),  # garbage bytes
    (b"hello, not a motion file", r"not a valid \.npz archive"),
    (b"", "empty file"),
    (pickle.dumps({"poses": [1, 2]}, protocol=4), "a pickled Python object, not a motion file"),
])
def test_files_that_are_not_archives(tmp_path: Path, content: bytes, message: str) -> None:
    """Non-archives get a message saying what they are; only a real pickle is called one."""
    path = tmp_path / "take.npz"
    path.write_bytes(content)
    with pytest.raises(MotionFileError, match=message) as caught:
        load_motion(path)
    if not content.startswith(b"\x80"):
        assert "pickle" not in str(caught.value)


def test_write_is_atomic_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "motion.npz"
    write_motion(path, body_arrays(seed=1))
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(motion_module.os, "fsync", disk_full)
    with pytest.raises(OutputError, match="No space left"):
        write_motion(path, body_arrays(seed=2))
    monkeypatch.undo()
    assert path.read_bytes() == before, "the old file must survive a failed write"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["motion.npz"]

    def cancelled(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(motion_module.np, "savez_compressed", cancelled)
    with pytest.raises(KeyboardInterrupt):
        write_motion(tmp_path / "new.npz", body_arrays())
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["motion.npz"]


def test_write_refuses_unwritable_places(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        write_motion(tmp_path / "no" / "motion.npz", body_arrays())
    with pytest.raises(OutputError, match=".npz"):
        write_motion(tmp_path / "motion.txt", body_arrays())
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(OutputError, match="folder"):
        write_motion(tmp_path / "dir.npz", body_arrays())
    if os.geteuid() == 0:
        readonly = Path("/sys")  # root ignores permission bits; sysfs refuses new files
    else:
        readonly = tmp_path / "ro"
        readonly.mkdir()
        readonly.chmod(0o500)
    with pytest.raises(OutputError, match="cannot write"):
        write_motion(readonly / "motion.npz", body_arrays())
    assert not (readonly / "motion.npz").exists()


def test_reader_imports_no_heavy_modules() -> None:
    import subprocess

    code = ("import sys; import addon.motion_file; "
            "bad = [m for m in ('bpy', 'torch', 'cv2', 'mediapipe', 'mannequin') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == ""
