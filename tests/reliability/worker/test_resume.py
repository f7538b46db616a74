"""Resume (core/checkpoint.py): chunks saved atomically in the checkpoint cache, keyed by input and
options; a rerun after a real kill or cancel resumes from the last chunk and gives the same result
as an uninterrupted run, and the output folder never holds anything but the finished output."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from addon.motion_file import load_motion
from core.checkpoint import (CHECKPOINTS_ENV, CHUNK_FRAMES_ENV, Checkpoints, check_output_folder, checkpoint_key,
                             detect_resumable, open_checkpoints, stitch)
from core.detect import DetectOptions
from core.errors import OutputError
from core.keypoints_file import Keypoints, PersonKeypoints
from core.progress import Progress

AREA = "resume"
CHUNK = 10


@pytest.fixture(scope="module")
def clip(tmp_path_factory, players, h) -> Path:
    """36 frames, the two photographs alternating every 5 frames (people move between them)."""
    root = tmp_path_factory.mktemp("resume")
    return h.write_video(root / "players 36.avi", [players[(k // 5) % 2] for k in range(36)])


def test_checkpoints_files(tmp_path, tmpfs) -> None:
    root = tmp_path / "cache"
    ck = Checkpoints("k1" * 20, root)
    assert ck.folder.parent == root and ck.saved() == []
    ck.save_chunk(0, {"a": np.arange(3)})
    ck.save_chunk(2, {"a": np.arange(4)})
    assert ck.saved() == [0, 2] and ck.load_chunk(1) is None
    np.testing.assert_array_equal(Checkpoints("k1" * 20, root).load_chunk(2)["a"], np.arange(4))
    (ck.folder / "chunk_00002.npz").write_bytes(b"PK\x03\x04 damaged")
    assert ck.load_chunk(2) is None and ck.saved() == [0]  # damaged: dropped, recomputed
    assert Checkpoints("k2" * 20, root).saved() == []  # other input or options: other folder
    assert not [p for p in ck.folder.iterdir() if p.name.startswith(".")]  # no temporary files
    ck.finish()
    assert not ck.folder.exists()
    ck.save_chunk(1, {"a": np.arange(2)})  # a parallel run finished the folder: recreated
    abandoned = Checkpoints("k3" * 20, root)
    abandoned.save_chunk(0, {"a": np.arange(1)})
    for path in [abandoned.folder, *abandoned.folder.iterdir()]:
        os.utime(path, (0, 0))
    Checkpoints("k4" * 20, root)
    assert not abandoned.folder.exists() and ck.folder.exists()  # untouched for a week: pruned
    with pytest.raises(OutputError, match="Read-only"):
        Checkpoints("k", tmpfs("64k", readonly=True) / "cache")


def test_output_folder_checked_and_stale_temporaries_removed(tmp_path, tmpfs) -> None:
    out = tmp_path / "take.npz"
    stale, fresh = tmp_path / ".take.x1.tmp.npz", tmp_path / ".take.x2.tmp.npz"  # left by killed writers
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    os.utime(stale, (0, 0))
    assert check_output_folder(out) == [stale.name] and fresh.exists() and not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name]  # the probe left nothing
    with pytest.raises(OutputError, match="Read-only"):
        check_output_folder(tmpfs("64k", readonly=True) / "take.npz")
    with pytest.raises(OutputError, match="does not exist"):
        check_output_folder(tmp_path / "nope" / "take.npz")


def test_key_follows_input_and_options(clip, tmp_path) -> None:
    other = tmp_path / "copy.avi"
    other.write_bytes(clip.read_bytes())
    key = checkpoint_key(clip, {"stride": 1})
    assert key == checkpoint_key(clip, {"stride": 1})
    assert key != checkpoint_key(clip, {"stride": 2}) and key != checkpoint_key(other, {"stride": 1})


def test_mirrored_detection_never_resumes_from_plain_chunks(clip, tmp_path, monkeypatch) -> None:
    """Chunks detected from the flipped frames are not those of the footage as it is."""
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "cache"))
    out = tmp_path / "motion.npz"
    plain = open_checkpoints(out, clip, DetectOptions())
    assert plain.key == open_checkpoints(out, clip, DetectOptions(), mirror=False).key
    assert plain.key != open_checkpoints(out, clip, DetectOptions(), mirror=True).key


def _person(pid: int, t: int, box: tuple[float, float, float, float]) -> PersonKeypoints:
    p = PersonKeypoints.empty(pid, t)
    p.valid[:] = True
    p.box[:] = box
    p.body_2d[:] = pid
    return p


def test_stitch_keeps_ids_across_the_seam() -> None:
    a = Keypoints("v", 10.0, (640, 480), np.arange(0, 5), [_person(1, 5, (0, 0, 100, 200)),
                                                          _person(2, 5, (300, 0, 400, 200))])
    # the next chunk found the same two people in the other order (ids 1, 2 swapped) and a newcomer
    b = Keypoints("v", 10.0, (640, 480), np.arange(4, 9), [_person(1, 5, (302, 0, 401, 200)),
                                                          _person(2, 5, (1, 0, 99, 201)),
                                                          _person(3, 5, (500, 0, 600, 200))])
    out = stitch([a, b])
    assert out.frame_index.tolist() == list(range(9))
    assert out.person_ids.tolist() == [1, 2, 3]
    left, right, new = out.people
    assert left.box[8].tolist() == [1, 0, 99, 201] and right.box[8].tolist() == [302, 0, 401, 200]
    assert not new.valid[:5].any() and new.valid[5:].all()
    # the first chunk that found a horizon gives the clip's (a static camera's is the same line),
    # with the focal its lines gave
    b.horizon = np.array([0.0, 1.0, -190.0])
    b.scene_focal = np.array([610.0, 0.07])
    stitched = stitch([a, b])
    np.testing.assert_array_equal(stitched.horizon, b.horizon)
    np.testing.assert_array_equal(stitched.scene_focal, b.scene_focal)
    assert not stitch([a, a]).scene_focal.any()


def test_resumed_detection_equals_uninterrupted(clip, tmp_path, monkeypatch, record) -> None:
    monkeypatch.setenv(CHUNK_FRAMES_ENV, str(CHUNK))
    options, quiet = DetectOptions(face=False), Progress("quiet")
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "a"))
    whole = detect_resumable(clip, options, quiet, open_checkpoints(tmp_path / "a.npz", clip, options))
    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "b"))
    ck = open_checkpoints(tmp_path / "b.npz", clip, options)
    detect_resumable(clip, options, quiet, ck)
    for index in ck.saved()[2:]:  # as if killed during the third chunk
        (ck.folder / f"chunk_{index:05d}.npz").unlink()
    resumed = detect_resumable(clip, options, quiet, open_checkpoints(tmp_path / "b.npz", clip, options))
    record(AREA, f"detection resumed from 2 of {len(ck.saved()) or 4} chunks ({CHUNK} frames each) vs "
           "uninterrupted", f"{resumed.num_frames} frames, ids {resumed.person_ids.tolist()}: equal arrays",
           "equal", "checkpoint folder in the cache until the output is written")
    assert whole.num_frames == resumed.num_frames == 36
    assert whole.person_ids.tolist() == resumed.person_ids.tolist() and len(whole.people) >= 2
    for a, b in zip(whole.to_arrays().items(), resumed.to_arrays().items()):
        assert a[0] == b[0]
        np.testing.assert_array_equal(a[1], b[1], err_msg=a[0])


def _motion_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files if k != "source"}


def _chunks(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.glob("*/chunk_*.npz")) if root.is_dir() else []


def test_capture_resumes_after_a_real_kill(cli, live, clip, tmp_path, record, h, monkeypatch) -> None:
    monkeypatch.setenv(CHUNK_FRAMES_ENV, str(CHUNK))
    cache = tmp_path / "cache"
    monkeypatch.setenv(CHECKPOINTS_ENV, str(cache))
    args = ["--no-face", "--smoothing", "1"]
    reference = tmp_path / "ref" / "take.npz"
    reference.parent.mkdir()
    full = cli(["capture", str(clip), "-o", str(reference), *args])
    assert full.code == 0, full.message
    out = tmp_path / "run" / "take.npz"
    out.parent.mkdir()
    job = live(["capture", str(clip), "-o", str(out), *args])
    job.wait_for(lambda e: e.get("event") == "progress" and e.get("stage") == "detect" and e["current"] >= 24)
    job.signal(signal.SIGKILL)
    killed = job.finish()
    chunks = _chunks(cache)
    assert killed.code == -signal.SIGKILL and not out.exists() and len(chunks) >= 2, chunks
    assert os.listdir(out.parent) == []  # the output folder holds nothing after the kill
    again = cli(["capture", str(clip), "-o", str(out), *args])
    resumed = [e["message"] for e in again.events if e.get("event") == "info" and "resumed" in e.get("message", "")]
    record(AREA, f"capture killed (SIGKILL) during detection after {len(chunks)} saved chunks, then run again",
           f"{again.message}; {len(resumed)} chunk(s) reused ('{resumed[0] if resumed else ''}'); motion file "
           "equal to an uninterrupted run", again.code,
           "the motion file only; checkpoints removed" if not _chunks(cache) else "checkpoints left")
    again.assert_clean()
    assert again.code == 0 and len(resumed) == len(chunks)
    assert not _chunks(cache) and sorted(p.name for p in out.parent.iterdir()) == [out.name]
    want, got = _motion_arrays(reference), _motion_arrays(out)
    assert sorted(want) == sorted(got)
    for key in want:
        if want[key].dtype.kind in "fc":
            np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)
        else:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    assert load_motion(out).num_frames == 36


def test_capture_resumes_after_cancel(cli, live, clip, tmp_path, record, monkeypatch) -> None:
    monkeypatch.setenv(CHUNK_FRAMES_ENV, str(CHUNK))
    cache = tmp_path / "cache"
    monkeypatch.setenv(CHECKPOINTS_ENV, str(cache))
    out = tmp_path / "out" / "take.npz"
    out.parent.mkdir()
    job = live(["capture", str(clip), "-o", str(out), "--no-face"])
    job.wait_for(lambda e: e.get("event") == "progress" and e.get("stage") == "detect" and e["current"] >= 14)
    job.signal(signal.SIGTERM)
    cancelled = job.finish()
    saved = _chunks(cache)
    assert cancelled.code == 130 and not out.exists() and saved and os.listdir(out.parent) == []
    again = cli(["capture", str(clip), "-o", str(out), "--no-face"])
    resumed = [e for e in again.events if e.get("event") == "info" and "resumed" in e.get("message", "")]
    record(AREA, f"capture cancelled (SIGTERM) during detection after {len(saved)} saved chunk(s), then run again",
           f"{again.message}; {len(resumed)} chunk(s) reused", again.code,
           "the motion file only; checkpoints removed" if not _chunks(cache) else "checkpoints left")
    assert again.code == 0 and len(resumed) == len(saved) and not _chunks(cache)
    assert os.listdir(out.parent) == [out.name]
