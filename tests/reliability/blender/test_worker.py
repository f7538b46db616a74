"""The add-on's side of worker faults: the interpreter missing or wrong (preferences), and the
real worker run through the add-on's job class (addon.job.WorkerJob): cancel, kill, out of memory."""

from __future__ import annotations

import os
import signal
import stat
import sys
import time
from pathlib import Path

import bpy
import pytest

AREA_PY = "worker interpreter"


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _interpreters(tmp: Path, h) -> dict[str, tuple[str, str]]:
    """case -> (worker_python value, words the message must hold)."""
    fake38 = _script(tmp / "python3.8", "#!/bin/sh\n# stands in for a Python 3.8 (none is installed here): "
                     "the real 3.11 with sys.version_info replaced\n"
                     "exec /usr/bin/python3.11 -c 'import sys; sys.version_info = (3, 8, 10); "
                     "exec(sys.argv[1])' \"$2\"\n")
    text = tmp / "notes.txt"
    text.write_text("not a program")
    shell = _script(tmp / "python", "#!/bin/sh\necho 'hello, I am not Python'\n")
    return {
        "worker_python points to a file that does not exist": (str(tmp / "missing" / "python"), "not found"),
        "worker_python is a folder": (str(tmp), "not found"),
        "worker_python is a text file (not executable)": (str(text), "not executable"),
        "worker_python is a program that is not Python (a shell script)": (str(shell), "not a working python"),
        "worker_python is Python 3.8 (a stand-in reporting 3.8)": (str(fake38), "is python 3.8"),
        "worker_python is Python 3.11 without the worker packages (/usr/bin/python3.11)":
            ("/usr/bin/python3.11", "lacks the worker packages"),
        "worker_python is Blender's own Python": (sys.executable, "blender's own python"),
    }


CASES = ["worker_python points to a file that does not exist", "worker_python is a folder",
         "worker_python is a text file (not executable)",
         "worker_python is a program that is not Python (a shell script)",
         "worker_python is Python 3.8 (a stand-in reporting 3.8)",
         "worker_python is Python 3.11 without the worker packages (/usr/bin/python3.11)",
         "worker_python is Blender's own Python"]


@pytest.mark.parametrize("case", CASES)
def test_worker_interpreter(ext, tmp_path, record, h, case: str) -> None:
    prefs_module = __import__(f"{ext.__name__}.preferences", fromlist=["x"])
    value, words = _interpreters(tmp_path, h)[case]
    if value == "/usr/bin/python3.11" and not os.path.exists(value):
        pytest.skip("no system python3.11")
    prefs = prefs_module.get_preferences(bpy.context)
    prefs.worker_python = value
    try:
        with pytest.raises(prefs_module.WorkerPythonError) as info:
            prefs_module.resolve_worker_python(bpy.context)
    finally:
        prefs.worker_python = ""
    message = str(info.value)
    record(AREA_PY, case, message, "capture refused before start (report ERROR)",
           how="preferences.resolve_worker_python, as the Capture button calls it")
    assert words in message.lower(), message


def test_worker_interpreter_good(ext, record, h) -> None:
    prefs_module = __import__(f"{ext.__name__}.preferences", fromlist=["x"])
    prefs = prefs_module.get_preferences(bpy.context)
    prefs.worker_python = str(h.WORKER)
    try:
        start = time.perf_counter()
        assert prefs_module.resolve_worker_python(bpy.context) == str(h.WORKER)
        first = time.perf_counter() - start
        start = time.perf_counter()
        prefs_module.resolve_worker_python(bpy.context)
        again = time.perf_counter() - start
    finally:
        prefs.worker_python = ""
    record(AREA_PY, "worker_python is the project's worker venv (control case)",
           f"accepted; check took {first:.2f} s, {again * 1000:.1f} ms when cached (panels redraw often)", "ok")
    assert again < 0.05


# -- the real worker through the add-on's job class ------------------------------------------------

def _job(ext, h, args: list[str], python: str | None = None, log: Path | None = None, slow_write_s: float = 0):
    job_module = __import__(f"{ext.__name__}.job", fromlist=["x"])
    argv = job_module.worker_command(python or str(h.WORKER), "capture", args)
    if slow_write_s:  # the same worker with slow .npz writes (tests/reliability/slow_write.py)
        argv = [argv[0], str(h.REPO / "tests" / "reliability" / "slow_write.py"), str(slow_write_s), *argv[3:]]
    return job_module.WorkerJob(argv, cwd=str(h.REPO), kill_grace_s=5.0, log_path=str(log) if log else None)


def _wait_stage(job, stage: str, current: int = 0, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = job.poll()
        if status.state not in ("running", "cancelling"):
            raise AssertionError(f"the job ended early: {status}")
        if status.stage == stage and status.current >= current:
            return
        time.sleep(0.05)
    raise AssertionError(f"stage {stage} not reached: {job.status}")


@pytest.mark.parametrize("stage", ["detect", "fit", "write"])
def test_job_cancel(ext, files, tmp_path, record, h, stage: str) -> None:
    out = tmp_path / "take.npz"
    source = {"detect": files["long_clip"], "fit": files["long_keypoints"]}.get(stage, files["keypoints"])
    job = _job(ext, h, [str(source), "-o", str(out), "--no-face"], slow_write_s=4 if stage == "write" else 0)
    job.start()
    _wait_stage(job, stage, current=3 if stage == "detect" else 0)
    time.sleep({"detect": 0.0, "fit": 0.3}.get(stage, 1.0))
    start = time.monotonic()
    job.cancel()
    status = job.wait(timeout=60)
    took = time.monotonic() - start
    left = sorted(p.name for p in tmp_path.iterdir())
    record("cancel", f"Cancel in the add-on (job.cancel) during {stage}"
           + (" (writes slowed in the test harness)" if stage == "write" else ""),
           f"status '{status.text()}' after {took:.1f} s", f"{status.state} (worker exit {job.returncode})",
           ", ".join(left) or "nothing")
    assert status.state == "cancelled" and status.text() == "Cancelled"
    assert job.returncode == 130  # the worker ended itself on SIGTERM (no SIGKILL needed)
    assert not out.exists() and not [n for n in left if ".partial" not in n]


def test_job_worker_killed(ext, files, tmp_path, record, h) -> None:
    out = tmp_path / "take.npz"
    job = _job(ext, h, [str(files["long_clip"]), "-o", str(out), "--no-face"])
    job.start()
    _wait_stage(job, "detect", current=2)
    os.kill(job.pid, signal.SIGKILL)
    status = job.wait(timeout=60)
    left = sorted(p.name for p in tmp_path.iterdir())
    record("worker faults", "worker killed from outside (SIGKILL) during a capture started by the add-on",
           f"Failed: {status.error}", f"{status.state} (exit {job.returncode})", ", ".join(left) or "nothing")
    assert status.state == "failed" and not out.exists()
    assert "Traceback" not in status.error
    if not any(w in status.error.lower() for w in ("killed", "signal", "sigkill")):
        pytest.xfail("the job reports 'worker exited with code -9' and stderr noise, not that the worker was "
                     "killed (addon/job.py _finish could name the signal: H5)")


def test_job_out_of_memory(ext, files, tmp_path, record, h) -> None:
    """The worker interpreter is a wrapper that limits address space (ulimit -v), as a user could set."""
    wrapper = _script(tmp_path / "python-limited", f"#!/bin/sh\nulimit -v 1048576\nexec {h.WORKER} \"$@\"\n")
    out = tmp_path / "take.npz"
    job = _job(ext, h, [str(files["clip"]), "-o", str(out), "--no-face"], python=str(wrapper))
    job.start()
    status = job.wait(timeout=300)
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != wrapper.name)
    record("worker faults", "worker out of memory (ulimit -v 1 GiB) in a capture started by the add-on",
           f"Failed: {status.error}", f"{status.state} (exit {job.returncode})", ", ".join(left) or "nothing")
    assert status.state == "failed" and not out.exists() and not left
    assert "Traceback" not in status.error
    headline = status.error.split(": W0000")[0].splitlines()[0]  # before the native libraries' log noise
    if "memory" not in headline.lower():
        pytest.xfail("native out-of-memory aborts (std::bad_alloc) reach the user as the C++ runtime's last "
                     "stderr lines; addon/job.py could say 'the worker ran out of memory' (H5)")


def test_job_worker_missing(ext, tmp_path, record, h) -> None:
    job = _job(ext, h, ["x.mp4", "-o", str(tmp_path / "t.npz")], python=str(tmp_path / "nope" / "python"))
    with pytest.raises(OSError) as info:
        job.start()
    record(AREA_PY, "worker interpreter vanishes after the preference was checked (job start)", str(info.value),
           "capture refused (report ERROR)", how="addon.job.WorkerJob.start")
    assert "cannot start the worker" in str(info.value)


def test_add_on_rerun_resumes_a_cancelled_capture(ext, files, empty_scene, record, h, monkeypatch) -> None:
    """Cancel a capture started the add-on's way (new_capture_job), then Capture again: the new
    take (a new file name) resumes from the cancelled run's checkpoints (keyed by input + options)."""
    capture = __import__(f"{ext.__name__}.operators.capture", fromlist=["x"])
    prefs_module = __import__(f"{ext.__name__}.preferences", fromlist=["x"])
    monkeypatch.setenv("VIDEO_MOCAP_CHUNK_FRAMES", "10")
    prefs = prefs_module.get_preferences(bpy.context)
    prefs.worker_python = str(h.WORKER)
    settings = bpy.context.scene.video_mocap
    settings.footage_path = str(files["long_clip"])
    settings.use_face = False
    events: list[dict] = []
    try:
        first = capture.new_capture_job(bpy.context)
        first.start()
        _wait_stage(first, "detect", current=25)
        first.cancel()
        assert first.wait(timeout=60).state == "cancelled"
        time.sleep(1.1)  # the next take gets another file name
        second = capture.new_capture_job(bpy.context)
        second.on_event = events.append
        second.start()
        status = second.wait(timeout=600)
    finally:
        prefs.worker_python = ""
    out1, out2 = (job.argv[job.argv.index("-o") + 1] for job in (first, second))
    resumed = [e["message"] for e in events if e.get("event") == "info" and "resumed" in e.get("message", "")]
    record("resume", "Capture cancelled in the add-on during detection, then Capture again (a new take file)",
           f"{status.text()}; {len(resumed)} chunk(s) of 10 frames reused ({resumed[0] if resumed else '-'})",
           status.state, "the new take file; the cancelled take has no file")
    assert out1 != out2 and status.state == "succeeded" and len(resumed) >= 2
    assert not Path(out1).exists() and Path(out2).is_file()
