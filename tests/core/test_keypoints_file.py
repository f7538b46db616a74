"""The keypoints file: exact layout, round trip, atomic writes, clear errors on bad files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError, OutputError
from core.keypoints_file import FORMAT, PERSON_FIELDS, Keypoints, PersonKeypoints, load_keypoints, save_keypoints


def _sample(num_frames: int = 4, ids: tuple[int, ...] = (3, 7)) -> Keypoints:
    rng = np.random.default_rng(0)
    people = []
    for pid in ids:
        person = PersonKeypoints.empty(pid, num_frames)
        for name, (shape, dtype) in PERSON_FIELDS.items():
            if dtype == np.bool_:
                setattr(person, name, rng.random(num_frames) > 0.3)
            else:
                setattr(person, name, rng.random((num_frames, *shape)).astype(np.float32))
        people.append(person)
    return Keypoints(source="clip.mp4", fps=15.0, image_size=(640, 480),
                     frame_index=np.arange(0, 2 * num_frames, 2), people=people)


def test_round_trip_keeps_every_value(tmp_path: Path) -> None:
    original = _sample()
    path = save_keypoints(original, tmp_path / "k.npz")
    loaded = load_keypoints(path)
    assert loaded.source == "clip.mp4" and loaded.fps == 15.0 and loaded.image_size == (640, 480)
    np.testing.assert_array_equal(loaded.frame_index, [0, 2, 4, 6])
    np.testing.assert_array_equal(loaded.person_ids, [3, 7])
    for a, b in zip(original.people, loaded.people):
        for name in PERSON_FIELDS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_layout_is_exactly_the_documented_one(tmp_path: Path) -> None:
    path = save_keypoints(_sample(num_frames=3, ids=(5,)), tmp_path / "k.npz")
    with np.load(path, allow_pickle=False) as data:
        assert str(data["format"]) == FORMAT
        assert data["person_ids"].tolist() == [5]
        assert data["p0/body_2d"].shape == (3, 33, 2) and data["p0/body_2d"].dtype == np.float32
        assert data["p0/face_2d"].shape == (3, 468, 3)
        assert data["p0/left_hand_3d"].shape == (3, 21, 3)
        assert data["p0/valid"].dtype == np.bool_
        expected = {"format", "source", "fps", "image_size", "frame_index", "person_ids", "horizon",
                    "scene_focal", "footage_mirrored", "footage_lens_35mm"}
        expected |= {f"p0/{name}" for name in PERSON_FIELDS}
        assert set(data.files) == expected


def test_lens_round_trip_older_files_and_bad_values(tmp_path: Path) -> None:
    kp = _sample()
    assert kp.lens_35mm == 0.0, "no lens metadata: 0"
    kp.lens_35mm = 26.0
    path = save_keypoints(kp, tmp_path / "k.npz")
    assert load_keypoints(path).lens_35mm == 26.0
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(tmp_path / "old.npz", **{k: v for k, v in arrays.items() if k != "footage_lens_35mm"})
    assert load_keypoints(tmp_path / "old.npz").lens_35mm == 0.0        # written before lenses were kept
    for bad in (np.array(-3.0), np.array([26.0, 28.0]), np.array("26"), np.array(np.nan)):
        np.savez(tmp_path / "bad.npz", **{**arrays, "footage_lens_35mm": bad})
        with pytest.raises(InputError, match="footage_lens_35mm"):
            load_keypoints(tmp_path / "bad.npz")


def test_horizon_round_trip_and_files_without_one(tmp_path: Path) -> None:
    kp = _sample()
    assert not kp.horizon.any(), "no horizon found: zeros"
    kp.horizon = np.array([0.01, 0.99995, -192.4])
    path = save_keypoints(kp, tmp_path / "k.npz")
    np.testing.assert_array_equal(load_keypoints(path).horizon, kp.horizon)
    # a file written before the horizon was recorded reads as "none found"
    with np.load(path, allow_pickle=False) as data:
        older = {k: data[k] for k in data.files if k != "horizon"}
    np.savez(tmp_path / "old.npz", **older)
    assert not load_keypoints(tmp_path / "old.npz").horizon.any()
    for bad in ([0.0, 0.0, 5.0], [np.nan, 1.0, 0.0], [1.0, 2.0]):
        kp.horizon = np.array(bad)
        with pytest.raises(InputError, match="horizon"):
            save_keypoints(kp, tmp_path / "bad.npz")


def test_scene_focal_round_trip_older_files_and_bad_values(tmp_path: Path) -> None:
    kp = _sample()
    assert not kp.scene_focal.any(), "no focal from the scene's lines: zeros"
    kp.scene_focal = np.array([640.0, 0.08])
    path = save_keypoints(kp, tmp_path / "k.npz")
    np.testing.assert_array_equal(load_keypoints(path).scene_focal, kp.scene_focal)
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    np.savez(tmp_path / "old.npz", **{k: v for k, v in arrays.items() if k != "scene_focal"})
    assert not load_keypoints(tmp_path / "old.npz").scene_focal.any()   # written before it was kept
    for bad in ([640.0, 0.0], [0.0, 0.1], [-640.0, 0.1], [np.inf, 0.1], [640.0]):
        np.savez(tmp_path / "bad.npz", **{**arrays, "scene_focal": np.array(bad)})
        with pytest.raises(InputError, match="scene_focal must be"):
            load_keypoints(tmp_path / "bad.npz")


def test_mirrored_flag_round_trip_old_files_and_bad_values(tmp_path: Path) -> None:
    kp = _sample()
    assert not kp.mirrored
    kp.mirrored = True
    path = save_keypoints(kp, tmp_path / "k.npz")
    assert load_keypoints(path).mirrored
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    older = {k: v for k, v in arrays.items() if k != "footage_mirrored"}
    np.savez(tmp_path / "old.npz", **older)
    assert not load_keypoints(tmp_path / "old.npz").mirrored   # written before the flag: not mirrored
    for bad in (np.array([True, False]), np.array(1), np.array("yes")):
        np.savez(tmp_path / "bad.npz", **{**arrays, "footage_mirrored": bad})
        with pytest.raises(InputError, match="footage_mirrored"):
            load_keypoints(tmp_path / "bad.npz")


def test_empty_result_is_valid(tmp_path: Path) -> None:
    empty = Keypoints(source="x", fps=30.0, image_size=(64, 48), frame_index=np.arange(5))
    loaded = load_keypoints(save_keypoints(empty, tmp_path / "e.npz"))
    assert loaded.people == [] and loaded.num_frames == 5


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "k.npz"
    target.write_bytes(b"old")
    bad = _sample()
    bad.people[0].body_2d = np.zeros((2, 33, 2), np.float32)  # wrong length
    with pytest.raises(InputError, match="body_2d"):
        save_keypoints(bad, target)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.npz"]
    with pytest.raises(OutputError, match="does not exist"):
        save_keypoints(_sample(), tmp_path / "missing" / "k.npz")


def test_written_file_has_the_usual_permissions(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        path = save_keypoints(_sample(), tmp_path / "k.npz")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600: other tools must read it


def test_nan_is_never_written(tmp_path: Path) -> None:
    kp = _sample()
    kp.people[0].body_3d[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        save_keypoints(kp, tmp_path / "k.npz")


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "not found"),
    (lambda p: p.write_text("hello"), "not a readable"),
    (lambda p: np.savez(p, format=np.array("video-mocap-motion/1")), "not a keypoints file"),
    (lambda p: np.savez(p, format=np.array("video-mocap-keypoints/2")), "this version reads"),
    (lambda p: np.savez(p, format=np.array(FORMAT), source=np.array("x"), fps=np.array(30.0),
                        image_size=np.array([4, 4]), frame_index=np.arange(2), person_ids=np.array([1])),
     "missing"),
])
def test_bad_files_give_clear_input_errors(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "k.npz"
    make(path)
    with pytest.raises(InputError, match=message):
        load_keypoints(path)


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.npz"
    np.savez(path, format=np.array([FORMAT], dtype=object))
    with pytest.raises(InputError):
        load_keypoints(path)
    assert zipfile.is_zipfile(path)
