"""addon/job.py: the worker subprocess, JSON-lines protocol, errors and cancel (real processes)."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import pytest

from addon.job import WorkerJob, worker_command

REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / ".venv" / "worker" / "bin" / "python"


def _script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "fake_worker.py"
    path.write_text("import json, sys, time, signal, os\n"
                    "def emit(**e):\n    print(json.dumps(e), flush=True)\n" + textwrap.dedent(body))
    return [sys.executable, str(path)]


def test_progress_events_and_success(tmp_path):
    out = tmp_path / "motion.npz"
    argv = _script(tmp_path, f"""
        emit(event="stage", stage="detect", total=4, message="")
        for i in range(1, 5):
            emit(event="progress", stage="detect", current=i, total=4, message="frame")
        print("some library chatter on stdout")
        print("warning on stderr", file=sys.stderr)
        emit(event="info", stage="fit", message="focal 1180 px")
        open({str(out)!r}, "wb").write(b"x")
        emit(event="done", output={str(out)!r}, people=2)
    """)
    seen = []
    job = WorkerJob(argv, cwd=str(tmp_path), on_event=seen.append, log_path=str(tmp_path / "log.txt"))
    job.start()
    status = job.wait(timeout=30)
    assert status.state == "succeeded" and status.output == str(out)
    assert status.summary == {"people": 2} and status.message == "focal 1180 px"
    assert [e["event"] for e in seen] == ["stage"] + ["progress"] * 4 + ["info", "done"]
    assert "warning on stderr" in (tmp_path / "log.txt").read_text()
    assert "some library chatter on stdout" in job.stderr_tail


def test_progress_fraction_while_running(tmp_path):
    argv = _script(tmp_path, """
        emit(event="stage", stage="fit", total=10, message="")
        emit(event="progress", stage="fit", current=3, total=10, message="")
        time.sleep(30)
    """)
    job = WorkerJob(argv, cwd=str(tmp_path))
    job.start()
    deadline = time.monotonic() + 20
    while job.poll().current != 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert job.status.state == "running" and job.status.fraction == pytest.approx(0.3)
    assert job.status.text() == "fit 3/10"
    job.cancel()
    assert job.wait(timeout=20).state == "cancelled"


def test_error_event_message_reaches_the_user(tmp_path):
    argv = _script(tmp_path, """
        emit(event="error", message="footage has no frames", kind="InputError", exit_code=2, traceback=None)
        sys.exit(2)
    """)
    job = WorkerJob(argv, cwd=str(tmp_path))
    job.start()
    status = job.wait(timeout=30)
    assert (status.state, status.error, job.returncode) == ("failed", "footage has no frames", 2)


def test_crash_without_protocol_shows_the_stderr_tail(tmp_path):
    argv = _script(tmp_path, """
        raise SystemExit("Segmentation fault in libfoo")
    """)
    job = WorkerJob(argv, cwd=str(tmp_path))
    job.start()
    status = job.wait(timeout=30)
    assert status.state == "failed" and "Segmentation fault in libfoo" in status.error and "code 1" in status.error


def test_cancel_terminates_then_kills(tmp_path):
    """A worker that ignores SIGTERM is killed after the grace time; no output appears."""
    out = tmp_path / "motion.npz"
    argv = _script(tmp_path, f"""
        signal.signal(signal.SIGTERM, lambda *a: None)
        emit(event="stage", stage="detect", total=None, message="")
        time.sleep(60)
        open({str(out)!r}, "wb").write(b"x")
    """)
    job = WorkerJob(argv, cwd=str(tmp_path), kill_grace_s=0.5)
    job.start()
    while job.poll().stage != "detect":
        time.sleep(0.02)
    started = time.monotonic()
    job.cancel()
    assert job.status.state == "cancelling"
    status = job.wait(timeout=20)
    assert status.state == "cancelled" and time.monotonic() - started < 10
    assert job.returncode == -9 and not out.exists()


def test_missing_interpreter_is_a_clear_error(tmp_path):
    job = WorkerJob([str(tmp_path / "no-python"), "-m", "core"], cwd=str(tmp_path))
    with pytest.raises(OSError, match="cannot start the worker"):
        job.start()


@pytest.mark.skipif(not WORKER.exists(), reason="worker environment not installed")
def test_real_worker_error_reaches_the_user(tmp_path):
    """The real worker (``python -m core --progress json capture``) on a missing file."""
    argv = worker_command(str(WORKER), "capture", [str(tmp_path / "nothing.mp4"), "-o", str(tmp_path / "m.npz")])
    job = WorkerJob(argv, cwd=str(REPO))
    job.start()
    status = job.wait(timeout=120)
    assert status.state == "failed" and job.returncode == 2
    assert "nothing.mp4" in status.error
    assert not (tmp_path / "m.npz").exists()


@pytest.mark.skipif(not WORKER.exists(), reason="worker environment not installed")
def test_real_worker_is_cancelled_with_sigterm(tmp_path):
    """SIGTERM reaches the real worker's Cancelled handler (exit 130) well within the grace time."""
    argv = [str(WORKER), "-c", "import core.__main__ as m, sys, signal, time; "
            "signal.signal(signal.SIGTERM, m._raise_cancelled); print('{\"event\": \"stage\", \"stage\": \"x\"}', "
            "flush=True); time.sleep(60)"]
    job = WorkerJob(argv, cwd=str(REPO), kill_grace_s=10)
    job.start()
    while job.poll().stage != "x":
        time.sleep(0.05)
    job.cancel()
    assert job.wait(timeout=30).state == "cancelled"
    assert job.returncode != -9  # ended by its own handler, not killed


@pytest.mark.skipif(not WORKER.exists(), reason="worker environment not installed")
def test_real_capture_is_cancelled_midway_without_output(tmp_path, opencv_doc_data):
    """Cancel a real capture while it works: the worker stops through its own SIGTERM
    handler (exit 130) and leaves no motion file."""
    out = tmp_path / "m.npz"
    argv = worker_command(str(WORKER), "capture", [str(opencv_doc_data / "vtest.avi"), "-o", str(out)])
    job = WorkerJob(argv, cwd=str(REPO), kill_grace_s=10)
    job.start()
    deadline = time.monotonic() + 240
    while job.poll().stage == "" and time.monotonic() < deadline:  # first stage reported: it is working
        time.sleep(0.05)
    assert job.status.state == "running", job.status.error
    job.cancel()
    status = job.wait(timeout=60)
    assert status.state == "cancelled" and job.returncode == 130
    assert not out.exists() and list(tmp_path.iterdir()) == []
