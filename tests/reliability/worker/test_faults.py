"""Output paths, a full disk, the worker killed or out of memory, and cancel at every stage,
through the real ``python -m core capture`` in a subprocess."""

from __future__ import annotations

import resource
import signal
import time
from pathlib import Path

import pytest

from addon.motion_file import load_motion

OOM_LIMIT_BYTES = 1024**3
"""RLIMIT_AS for the out-of-memory case: below what the landmark networks need to start."""


def _ok_output(run, out: Path) -> None:
    run.assert_clean()
    assert run.code == 0, (run.code, run.message, run.stderr[-2000:])
    assert load_motion(out).num_frames >= 1


def test_spaces_and_non_ascii_paths(cli, media, tmp_path, record, h) -> None:
    src = h.copy(media["clip"], tmp_path / "mé dia 日本" / "clip ü 1.avi")
    out = tmp_path / "out put é" / "take ü ✓.npz"
    out.parent.mkdir()
    run = cli(["capture", str(src), "-o", str(out), "--no-face", "--end", "4"])
    record("output paths", "footage and output paths with spaces and non-ASCII characters "
           "('mé dia 日本/clip ü 1.avi' -> 'out put é/take ü ✓.npz')", run.message, run.code,
           "the motion file only" if h.leftovers(out.parent) == [out.name] else h.describe_left(h.leftovers(out.parent)))
    _ok_output(run, out)
    assert h.leftovers(out.parent) == [out.name]
    assert load_motion(out).source == str(src)


def test_read_only_output_folder(cli, media, tmpfs, record, h) -> None:
    folder = tmpfs("1m", readonly=True)
    out = folder / "motion.npz"
    run = cli(["capture", str(media["keypoints"]), "-o", str(out), "--no-face"])
    record("output paths", "read-only output folder, keypoints input (read-only tmpfs mount)", run.message, run.code,
           h.describe_left(h.leftovers(folder)))
    run.assert_clean()
    assert run.code == 4 and "read-only" in run.message.lower(), run.message
    assert not h.leftovers(folder)


def test_read_only_output_folder_refused_before_work(cli, media, tmpfs, record, h) -> None:
    """With footage as input the checkpoint folder is made first, so the problem shows at once."""
    folder = tmpfs("1m", readonly=True)
    out = folder / "motion.npz"
    run = cli(["capture", str(media["long_clip"]), "-o", str(out), "--no-face"])
    record("output paths", "read-only output folder, footage input (read-only tmpfs mount)",
           f"{run.message} (stages run: {run.stages() or 'none'})", run.code, h.describe_left(h.leftovers(folder)))
    run.assert_clean()
    assert run.code == 4 and "read-only" in run.message.lower(), run.message
    assert run.stages() == [] and not h.leftovers(folder)


def test_output_folder_missing(cli, media, tmp_path, record, h) -> None:
    out = tmp_path / "no such folder" / "motion.npz"
    run = cli(["capture", str(media["keypoints"]), "-o", str(out), "--no-face"])
    record("output paths", "output folder does not exist", run.message, run.code, h.describe_left(h.leftovers(tmp_path)))
    run.assert_clean()
    assert run.code == 4 and "does not exist" in run.message, run.message
    assert not out.parent.exists()


def test_full_disk(cli, media, tmpfs, record, h) -> None:
    folder = tmpfs("64k")
    out = folder / "motion.npz"
    run = cli(["capture", str(media["keypoints"]), "-o", str(out), "--no-face"])
    record("output paths", "disk full while writing the motion file", run.message, run.code,
           h.describe_left(h.leftovers(folder)), how="64 KiB tmpfs mount")
    run.assert_clean()
    assert run.code == 4 and "space" in run.message.lower(), run.message
    assert not h.leftovers(folder)


def test_detect_full_disk(cli, media, tmpfs, record, h) -> None:
    folder = tmpfs("16k")
    out = folder / "keypoints.npz"
    run = cli(["detect", str(media["clip"]), "-o", str(out), "--no-face"])
    record("output paths", "disk full while writing a keypoints file (detect)", run.message, run.code,
           h.describe_left(h.leftovers(folder)), how="16 KiB tmpfs mount")
    run.assert_clean()
    assert run.code == 4 and "space" in run.message.lower(), run.message
    assert not h.leftovers(folder)


# -- the worker killed -----------------------------------------------------------------------------

def _in_stage(stage: str, after: int = 0):
    def check(event: dict) -> bool:
        return event.get("stage") == stage and (event.get("event") == "stage" and after == 0
                                                or int(event.get("current") or 0) >= after)
    return check


def test_sigkill_during_detect(live, media, tmp_path, record, h) -> None:
    out = tmp_path / "motion.npz"
    job = live(["capture", str(media["long_clip"]), "-o", str(out), "--no-face"])
    job.wait_for(_in_stage("detect", after=3))
    job.signal(signal.SIGKILL)
    run = job.finish()
    left = h.leftovers(tmp_path)
    record("worker faults", "worker killed (SIGKILL) during detection", "the process ends at once "
           "(the add-on reports it: see the add-on job rows)", h.code_text(run.code), h.describe_left(left))
    assert run.code == -signal.SIGKILL and not out.exists()
    assert not [n for n in left if not n.endswith(".partial") and ".partial/" not in n], left


def test_sigkill_during_fit(live, media, tmp_path, record, h) -> None:
    out = tmp_path / "motion.npz"
    job = live(["capture", str(media["long_keypoints"]), "-o", str(out), "--no-face"])
    job.wait_for(_in_stage("fit"))
    time.sleep(0.3)
    job.signal(signal.SIGKILL)
    run = job.finish()
    left = h.leftovers(tmp_path)
    record("worker faults", "worker killed (SIGKILL) during fitting", "the process ends at once",
           h.code_text(run.code), h.describe_left(left))
    assert run.code == -signal.SIGKILL and not out.exists() and not left


def test_sigkill_during_write(live, media, tmp_path, record, h) -> None:
    """SIGKILL cannot be caught: the temporary file of the atomic write may stay (hidden,
    ``.motion.*.tmp.npz``), but the motion file itself never exists half-written."""
    out = tmp_path / "motion.npz"
    job = live(["capture", str(media["keypoints"]), "-o", str(out), "--no-face"], slow_write_s=5)
    job.wait_for(_in_stage("write"))
    time.sleep(1.0)
    job.signal(signal.SIGKILL)
    run = job.finish()
    left = h.leftovers(tmp_path)
    record("worker faults", "worker killed (SIGKILL) while writing the motion file", "the process ends at once; "
           "no motion file", h.code_text(run.code), h.describe_left(left) + " (hidden temporary file of the atomic "
           "write; the next run of the same output removes it once it is 60 s old)",
           how="writes slowed in the test harness")
    assert run.code == -signal.SIGKILL and not out.exists()
    assert all(name.startswith(".motion.") and name.endswith(".tmp.npz") or ".partial" in name for name in left), left


@pytest.mark.parametrize("gib", [1.0, 1.5, 2.0])
def test_out_of_memory(cli, media, tmp_path, record, h, gib: float) -> None:
    """Where the allocation fails decides what the user reads: in Python (MemoryError: the worker's
    own message), in TFLite while preparing a network, or in a native thread (abort)."""
    limit = int(gib * 1024**3)

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    out = tmp_path / "motion.npz"
    run = cli(["capture", str(media["clip"]), "-o", str(out), "--no-face"], preexec_fn=limit_memory)
    left = h.leftovers(tmp_path)
    record("worker faults", f"out of memory (RLIMIT_AS {gib:g} GiB on the worker)", run.message, h.code_text(run.code),
           h.describe_left(left))
    assert "Traceback" not in run.stderr
    if run.code == 0:
        assert load_motion(out).num_frames >= 1  # enough memory at this limit on this machine
        return
    assert not out.exists() and not [n for n in left if ".partial" not in n], left
    if "out of memory" not in run.message.lower():
        pytest.xfail("the allocation failed outside Python: TFLite reports a failed network preparation "
                     "(shown as a model-file error, exit 3) or a native thread aborts (the C++ runtime's last "
                     "line, no protocol message); the worker cannot tell these from real faults. Fix idea: "
                     "core/__main__.py / addon/job.py could name memory when RLIMIT/cgroup limits are near")


# -- cancel (SIGTERM, what the add-on's job sends) ---------------------------------------------------

@pytest.mark.parametrize("stage", ["detect", "fit", "write"])
def test_cancel_at_each_stage(live, media, tmp_path, record, h, stage: str) -> None:
    out = tmp_path / "motion.npz"
    source = {"detect": media["long_clip"], "fit": media["long_keypoints"]}.get(stage, media["keypoints"])
    job = live(["capture", str(source), "-o", str(out), "--no-face"],
               slow_write_s=4 if stage == "write" else None)
    job.wait_for(_in_stage(stage, after=3 if stage == "detect" else 0))
    time.sleep({"detect": 0.0, "fit": 0.3}.get(stage, 1.0))
    job.signal(signal.SIGTERM)
    run = job.finish()
    left = h.leftovers(tmp_path)
    record("cancel", f"cancel (SIGTERM) during {stage}", run.message, h.code_text(run.code), h.describe_left(left),
           how="writes slowed in the test harness" if stage == "write" else "")
    run.assert_clean()
    assert run.code == 130 and "cancelled" in run.message, (run.code, run.message)
    assert not out.exists()
    assert not [n for n in left if ".partial" not in n], left
