"""Worker-side fixtures: the real CLI in a subprocess, real footage, a real motion file, tmpfs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
WORKER = REPO / ".venv" / "worker" / "bin" / "python"


@dataclass
class Run:
    """One finished run of ``python -m core``: exit code, JSON events, raw streams."""

    code: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def error(self) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("event") == "error"), None)

    @property
    def message(self) -> str:
        """What the user reads: the error event's message, the done event, else stderr's last line."""
        if self.error is not None:
            return str(self.error.get("message", ""))
        done = next((e for e in self.events if e.get("event") == "done"), None)
        if done is not None:
            return "done: " + ", ".join(f"{k}={v}" for k, v in done.items() if k in ("frames", "people"))
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def stages(self) -> list[str]:
        return [str(e["stage"]) for e in self.events if e.get("event") == "stage"]

    def assert_clean(self) -> None:
        """No traceback reaches the user (stderr, the message), internal errors excepted nowhere."""
        assert "Traceback" not in self.stderr, self.stderr[-3000:]
        assert "Traceback" not in self.message
        if self.error is not None:
            assert self.error.get("traceback") in (None, ""), self.error.get("traceback")


def parse_events(stdout: str) -> list[dict[str, Any]]:
    events = []
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def core_argv(args: Sequence[str], mode: str = "json", python: Path | str = WORKER) -> list[str]:
    return [str(python), "-m", "core", "--progress", mode, *map(str, args)]


@pytest.fixture(scope="session", autouse=True)
def checkpoint_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Worker runs keep their resume checkpoints here (VIDEO_MOCAP_CHECKPOINTS), not in ~/.cache."""
    root = tmp_path_factory.mktemp("checkpoints")
    old = os.environ.get("VIDEO_MOCAP_CHECKPOINTS")
    os.environ["VIDEO_MOCAP_CHECKPOINTS"] = str(root)
    yield root
    if old is None:
        os.environ.pop("VIDEO_MOCAP_CHECKPOINTS", None)
    else:
        os.environ["VIDEO_MOCAP_CHECKPOINTS"] = old


@pytest.fixture(scope="session")
def cli() -> Callable[..., Run]:
    """``cli(args, mode="json", timeout=300, wrapper=(), **popen)`` -> :class:`Run` of the real worker
    CLI (``wrapper``: argv prefix such as ``setpriv ...``)."""

    def run(args: Sequence[str], mode: str = "json", timeout: float = 300, wrapper: Sequence[str] = (),
            **popen: Any) -> Run:
        result = subprocess.run([*wrapper, *core_argv(args, mode)], cwd=REPO, capture_output=True, text=True,
                                timeout=timeout, **popen)
        return Run(result.returncode, result.stdout, result.stderr, parse_events(result.stdout))

    return run


class Live:
    """A worker started in the background; read its JSON events until a condition, then signal it."""

    def __init__(self, args: Sequence[str], *, preexec_fn: Callable[[], None] | None = None,
                 slow_write_s: float | None = None) -> None:
        argv = core_argv(args)
        if slow_write_s is not None:  # the same CLI with slow .npz writes (tests/reliability/slow_write.py)
            argv = [str(WORKER), str(REPO / "tests" / "reliability" / "slow_write.py"), str(slow_write_s), *argv[3:]]
        self.proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, preexec_fn=preexec_fn)
        self.events: list[dict[str, Any]] = []
        self.lines: list[str] = []

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 240) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        for line in self.proc.stdout:
            self.lines.append(line)
            event = parse_events(line)
            if event:
                self.events.append(event[0])
                if predicate(event[0]):
                    return event[0]
            if time.monotonic() > deadline:
                break
        self.proc.kill()
        raise AssertionError(f"the worker ended or timed out before the awaited event; events: {self.events[-5:]}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 120) -> Run:
        out, err = self.proc.communicate(timeout=timeout)
        stdout = "".join(self.lines) + out
        return Run(self.proc.returncode, stdout, err, parse_events(stdout))


@pytest.fixture
def live() -> Iterator[Callable[..., Live]]:
    started: list[Live] = []

    def start(args: Sequence[str], **kwargs: Any) -> Live:
        job = Live(args, **kwargs)
        started.append(job)
        return job

    yield start
    for job in started:
        if job.proc.poll() is None:
            job.proc.kill()
            job.proc.wait()


def write_video(path: Path, images: Sequence[np.ndarray], fps: float = 10.0, fourcc: str = "MJPG") -> Path:
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened(), f"cannot write {path}"
    for image in images:
        writer.write(image)
    writer.release()
    return path


@pytest.fixture(scope="session")
def players(opencv_doc_data: Path) -> list[np.ndarray]:
    """Two real photographs of basketball players (640x480 BGR), from Debian's opencv-doc."""
    return [cv2.imread(str(opencv_doc_data / name)) for name in ("basketball1.png", "basketball2.png")]


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory, players: list[np.ndarray]) -> dict[str, Path]:
    """Session files: ``clip`` (8 frames with two people, MJPG AVI), ``long_clip`` (80 frames),
    ``keypoints`` (detect's output for ``clip``), ``long_keypoints`` (detect's output for ``long_clip``:
    its fit lasts seconds, so a test can signal the worker while it fits), ``motion`` (a valid motion file)."""
    root = tmp_path_factory.mktemp("media")
    clip = write_video(root / "players.avi", [players[k % 2] for k in range(8)])
    long_clip = write_video(root / "players_long.avi", [players[k % 2] for k in range(80)])
    keypoints = root / "players_keypoints.npz"
    long_keypoints = root / "players_long_keypoints.npz"
    for source, target in ((clip, keypoints), (long_clip, long_keypoints)):
        detect = subprocess.run(core_argv(["detect", source, "-o", target, "--no-face"], "quiet"), cwd=REPO,
                                capture_output=True, text=True, timeout=300)
        assert detect.returncode == 0, detect.stderr[-2000:]
    motion = root / "valid_motion.npz"
    made = subprocess.run([str(WORKER), str(REPO / "tests" / "reliability" / "valid_motion.py"), str(motion)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    return {"clip": clip, "long_clip": long_clip, "keypoints": keypoints, "long_keypoints": long_keypoints,
            "motion": motion}


def leftovers(folder: Path, keep: Sequence[Path] = ()) -> list[str]:
    """Files under ``folder`` other than ``keep`` (relative names), to prove nothing partial stayed."""
    kept = {Path(p).resolve() for p in keep}
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.resolve() not in kept)


def describe_left(names: list[str]) -> str:
    """'nothing', or the names, with a checkpoint folder (``X.partial/...``, kept for resume) summarised."""
    if not names:
        return "nothing"
    partial = sorted({n.split("/")[0] for n in names if n.split("/")[0].endswith(".partial")})
    chunks = [n for n in names if "/chunk_" in n]
    rest = [n for n in names if n.split("/")[0] not in partial]
    text = [f"checkpoint folder {p}/ ({len(chunks)} chunk(s), kept for resume)" for p in partial]
    return ", ".join(text + rest)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``tmpfs(size="64k", readonly=False)`` -> a fresh tmpfs mount (root only; skips otherwise)."""
    mounts: list[Path] = []

    def mount(size: str = "64k", readonly: bool = False) -> Path:
        target = tmp_path / f"mnt{len(mounts)}"
        target.mkdir()
        options = f"size={size}" + (",ro" if readonly else "")
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); needs root")
        mounts.append(target)
        return target

    yield mount
    for target in mounts:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


NO_ROOT_FILE_ACCESS = ("setpriv", "--inh-caps=-dac_override,-dac_read_search",
                       "--bounding-set=-dac_override,-dac_read_search")
"""argv prefix: run as root but without root's permission bypass (file modes apply again)."""

SIGNAL_NAMES = {-int(s): f"killed by {s.name}" for s in (signal.SIGKILL, signal.SIGTERM)}


def code_text(code: int) -> str:
    return SIGNAL_NAMES.get(code, str(code))


def copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


@pytest.fixture(scope="session")
def h() -> Any:
    """Helpers for the tests (conftest modules are not imported by tests)."""
    from types import SimpleNamespace

    return SimpleNamespace(leftovers=leftovers, describe_left=describe_left, code_text=code_text,
                           write_video=write_video, copy=copy, core_argv=core_argv, parse_events=parse_events,
                           Run=Run, REPO=REPO, WORKER=WORKER,
                           NO_ROOT_FILE_ACCESS=NO_ROOT_FILE_ACCESS)
