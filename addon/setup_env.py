"""Create the worker's virtual environment: a plain class, no bpy.

The "Set up worker environment" operator (``preferences.py``) is a thin modal shell
around :class:`WorkerEnvSetup`; tests drive the class directly. The worker needs
its own Python 3.11 (torch, mediapipe, ...), never Blender's interpreter.

Steps, each a subprocess without a shell (argv lists):

1. ``<base python 3.11> -m venv <venv>``
2. ``<venv python> -m pip install -r requirements/worker-torch.txt`` (torch first and
   pinned: it takes the CPU wheel; plain ``torch`` pulls GBs of CUDA wheels)
3. ``... -r requirements/worker.txt``
4. ``... --no-deps -r requirements/worker-nodeps.txt`` (mediapipe without its unused,
   heavy dependencies)

A stamp file is written inside the venv only after the last step succeeded, so a
failed or cancelled setup is never mistaken for a working worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REQUIRED_PYTHON = (3, 11)
STAMP_NAME = ".video_mocap_installed"
PIP_FLAGS = ("--disable-pip-version-check", "--no-input")
LOG_LINES = 200
ERROR_LINES = 15


class SetupError(RuntimeError):
    """A user-facing setup problem (no base Python, a failed step, ...)."""


@dataclass(frozen=True)
class RequirementFile:
    """One ``pip install -r`` step; ``no_deps`` adds ``--no-deps``."""

    path: Path
    no_deps: bool = False


@dataclass(frozen=True)
class Step:
    """One subprocess: a short label for the status bar and its argv (no shell)."""

    label: str
    argv: tuple[str, ...]


def worker_requirement_files(requirements_dir: str | os.PathLike[str]) -> list[RequirementFile]:
    """The worker's requirement files in install order (the Makefile's order)."""
    folder = Path(requirements_dir)
    return [RequirementFile(folder / "worker-torch.txt"),
            RequirementFile(folder / "worker.txt"),
            RequirementFile(folder / "worker-nodeps.txt", no_deps=True)]


def venv_python(venv_dir: str | os.PathLike[str]) -> Path:
    """The interpreter inside a venv (``bin/python``, or ``Scripts/python.exe`` on Windows)."""
    if sys.platform == "win32":
        return Path(venv_dir) / "Scripts" / "python.exe"
    return Path(venv_dir) / "bin" / "python"


def is_installed(venv_dir: str | os.PathLike[str]) -> bool:
    """True when a setup finished in ``venv_dir`` (stamp written after the last step)."""
    return (Path(venv_dir) / STAMP_NAME).is_file() and venv_python(venv_dir).is_file()


def _python_identity(executable: str, timeout: float = 30.0) -> tuple[str, tuple[int, int]] | None:
    """(real sys.executable, (major, minor)) of an interpreter, or None if it does not run."""
    code = "import json, sys; print(json.dumps([sys.executable, list(sys.version_info[:2])]))"
    try:
        result = subprocess.run([executable, "-c", code], capture_output=True, text=True,
                                timeout=timeout, check=False, env=clean_env())
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    try:
        exe, version = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return str(exe), (int(version[0]), int(version[1]))


def find_base_python(configured: str = "", forbidden: Sequence[str] = ()) -> str:
    """A Python 3.11 to create the venv with: ``configured`` if given, else one on PATH.

    ``forbidden`` lists executables that must never be used (Blender's binary and
    its bundled Python); compared by absolute path without resolving symlinks, since
    a venv's python is a link to its base interpreter. Returns the interpreter's real ``sys.executable``; raises
    SetupError saying what was tried.
    """
    banned = {_normalized(path) for path in forbidden if path}
    wanted = ".".join(map(str, REQUIRED_PYTHON))
    if configured:
        candidates = [configured]
    else:
        names = [f"python{wanted}", "python3", "python"]
        candidates = [found for found in dict.fromkeys(shutil.which(name) for name in names) if found]
    tried = []
    for candidate in candidates:
        if _normalized(candidate) in banned:
            tried.append(f"{candidate} (Blender's own interpreter)")
            continue
        identity = _python_identity(candidate)
        if identity is None:
            tried.append(f"{candidate} (does not run)")
            continue
        executable, version = identity
        if _normalized(executable) in banned:
            tried.append(f"{candidate} (Blender's own interpreter)")
        elif version != REQUIRED_PYTHON:
            tried.append(f"{candidate} (Python {version[0]}.{version[1]})")
        else:
            return executable
    detail = "; ".join(tried) if tried else f"no python{wanted}, python3 or python on PATH"
    raise SetupError(f"A Python {wanted} is needed to create the worker environment ({detail}). "
                     f"Install Python {wanted} and set 'Base Python' in the add-on preferences.")


def _normalized(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def clean_env() -> dict[str, str]:
    """Environment for child interpreters: without Blender's Python settings, unbuffered output."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONEXECUTABLE", "VIRTUAL_ENV")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _status_from_line(line: str) -> str | None:
    """A short status text from one line of pip output, or None for noise."""
    text = line.strip()
    for prefix in ("Collecting ", "Downloading ", "Processing ", "Installing collected packages",
                   "Successfully installed", "Requirement already satisfied", "Building wheel"):
        if text.startswith(prefix):
            return text[:120]
    return None


class WorkerEnvSetup:
    """Creates ``venv_dir`` with ``base_python`` and installs the requirement files into it.

    Use either ``start()`` then ``poll()`` from a timer (the modal operator) and
    ``cancel()`` on Esc, or the blocking ``run()``. ``state`` is one of ``idle``,
    ``running``, ``done``, ``failed``, ``cancelled``; ``error`` holds the failure
    with the last lines of the failing step's output; ``progress`` is 0..1.
    """

    def __init__(self, base_python: str, venv_dir: str | os.PathLike[str],
                 requirement_files: Sequence[RequirementFile],
                 pip_args: Sequence[str] = ()) -> None:
        self.base_python = str(base_python)
        self.venv_dir = Path(venv_dir)
        self.requirement_files = list(requirement_files)
        self.pip_args = tuple(pip_args)
        self.state = "idle"
        self.error = ""
        self.status = ""
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.step_index = -1
        self._steps = self.steps()
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader: threading.Thread | None = None
        self._step_log: deque[str] = deque(maxlen=ERROR_LINES)

    # -- the plan ---------------------------------------------------------------------------
    def steps(self) -> list[Step]:
        """Every subprocess this setup runs, in order."""
        python = str(venv_python(self.venv_dir))
        steps = [Step("Creating the virtual environment",
                      (self.base_python, "-m", "venv", str(self.venv_dir)))]
        for requirement in self.requirement_files:
            argv = [python, "-m", "pip", "install", *PIP_FLAGS, *self.pip_args]
            if requirement.no_deps:
                argv.append("--no-deps")
            argv += ["-r", str(requirement.path)]
            steps.append(Step(f"Installing {requirement.path.name}", tuple(argv)))
        return steps

    def commands(self) -> list[str]:
        """The steps as shell command lines, for people who run them by hand."""
        return [shlex.join(step.argv) for step in self._steps]

    @property
    def python(self) -> Path:
        """The worker interpreter this setup produces."""
        return venv_python(self.venv_dir)

    @property
    def progress(self) -> float:
        """Fraction of steps finished, 0..1."""
        if self.state == "done":
            return 1.0
        return max(self.step_index, 0) / len(self._steps)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed", "cancelled")

    # -- running ----------------------------------------------------------------------------
    def start(self) -> None:
        """Check the inputs and launch the first step."""
        if self.state != "idle":
            raise SetupError(f"setup already {self.state}")
        missing = [str(r.path) for r in self.requirement_files if not r.path.is_file()]
        if missing:
            raise SetupError(f"requirement file(s) not found: {', '.join(missing)}")
        self.venv_dir.parent.mkdir(parents=True, exist_ok=True)
        (self.venv_dir / STAMP_NAME).unlink(missing_ok=True)
        self.state = "running"
        self._launch(0)

    def _launch(self, index: int) -> None:
        self.step_index = index
        step = self._steps[index]
        self.status = step.label
        self._step_log.clear()
        self.log.append(f"$ {shlex.join(step.argv)}")
        kwargs: dict = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        else:
            kwargs["start_new_session"] = True  # cancel ends pip and anything it started
        try:
            self._process = subprocess.Popen(step.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, text=True, errors="replace",
                                             env=clean_env(), **kwargs)
        except OSError as exc:
            self._fail(f"{step.label} could not start: {exc}")
            return
        self._lines = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(self._process, self._lines), daemon=True)
        self._reader.start()

    @staticmethod
    def _read(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def _drain(self) -> bool:
        """Move available output lines into the logs; True once the reader hit end of output."""
        ended = False
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return ended
            if line is None:
                ended = True
                continue
            self.log.append(line)
            if line.strip():
                self._step_log.append(line)
            status = _status_from_line(line)
            if status:
                self.status = f"{self._steps[self.step_index].label}: {status}"

    def poll(self) -> bool:
        """Advance without blocking; returns True while the setup is still running."""
        if self.state != "running" or self._process is None:
            return False
        ended = self._drain()
        code = self._process.poll()
        if code is None:
            return True
        if not ended and self._reader is not None:
            self._reader.join(timeout=5)
            self._drain()
        step = self._steps[self.step_index]
        if code != 0:
            tail = "\n".join(self._step_log)
            self._fail(f"{step.label} failed (exit code {code}):\n{tail}".rstrip())
            return False
        if self.step_index + 1 < len(self._steps):
            self._launch(self.step_index + 1)
            return self.state == "running"
        self._write_stamp()
        self.state = "done"
        self.status = f"Worker environment ready: {self.python}"
        self._process = None
        return False

    def _fail(self, message: str) -> None:
        self.state = "failed"
        self.error = message
        self.status = message.splitlines()[0]
        self._process = None

    def _write_stamp(self) -> None:
        digest = hashlib.sha256()
        for requirement in self.requirement_files:
            digest.update(requirement.path.read_bytes())
        stamp = {"python": str(self.python), "requirements_sha256": digest.hexdigest(),
                 "files": [r.path.name for r in self.requirement_files]}
        temp = self.venv_dir / (STAMP_NAME + ".tmp")
        temp.write_text(json.dumps(stamp, indent=1), encoding="utf-8")
        temp.replace(self.venv_dir / STAMP_NAME)

    def cancel(self, timeout: float = 5.0) -> None:
        """Stop the running step (pip and its children); the venv stays unstamped."""
        process = self._process
        if self.state != "running":
            return
        self.state = "cancelled"
        self.status = "Setup cancelled"
        self._process = None
        if process is None or process.poll() is not None:
            return
        try:
            if sys.platform == "win32":
                process.kill()
            else:
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            if sys.platform != "win32":
                os.killpg(process.pid, signal.SIGKILL)
            process.kill()
            process.wait(timeout=timeout)
        except ProcessLookupError:
            pass

    def run(self, on_update: Callable[["WorkerEnvSetup"], None] | None = None,
            interval: float = 0.1) -> str:
        """Blocking: start, poll until finished, return the final state."""
        self.start()
        while self.poll():
            if on_update is not None:
                on_update(self)
            time.sleep(interval)
        if on_update is not None:
            on_update(self)
        return self.state
