"""The worker as a subprocess speaking JSON lines (no bpy: tests drive it directly).

:class:`WorkerJob` starts ``<worker python> -m core --progress json <command> ...`` (no
shell), reads its stdout protocol (docs/formats.md, "Worker protocol") and its stderr on
two reader threads, and exposes the state to whoever polls it: the modal capture
operator (a timer calls :meth:`WorkerJob.poll`), the headless path and the tests
(:meth:`WorkerJob.wait`).

Cancel = SIGTERM, then SIGKILL after ``kill_grace_s`` if the worker is still alive. The
worker only ever creates its output by an atomic rename, so a cancelled job leaves no
partial motion file.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

State = Literal["idle", "running", "cancelling", "succeeded", "failed", "cancelled"]
FINISHED_STATES = ("succeeded", "failed", "cancelled")
STDERR_TAIL_LINES = 40
# Native log lines of mediapipe/TFLite (absl "W0000 ..."/"I0000 ...", "INFO: Created TensorFlow
# Lite ..."): noise in an error message, left out of what the user is shown.
_NATIVE_LOG = re.compile(r"^\s*([WI]\d{4} |INFO: |WARNING: All log messages before absl)")


@dataclass
class JobStatus:
    """What a UI shows about a job.

    Attributes:
        state: idle, running, cancelling, succeeded, failed or cancelled.
        stage: current worker stage (``detect``, ``fit``, ...).
        current, total: items done / to do in this stage (total None when unknown).
        message: latest progress or info text.
        error: the user-facing error (the worker's own message, else stderr's tail).
        output: the file the worker reported on success.
        summary: the ``done`` event's other fields.
    """

    state: State = "idle"
    stage: str = ""
    current: int = 0
    total: int | None = None
    message: str = ""
    error: str = ""
    output: str = ""
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        """0..1 within the current stage, or None when the stage has no known size."""
        if not self.total:
            return None
        return max(0.0, min(1.0, self.current / self.total))

    def text(self) -> str:
        """One line for a status bar."""
        if self.state in ("running", "cancelling"):
            head = "Cancelling" if self.state == "cancelling" else (self.stage or "starting")
            count = f" {self.current}/{self.total}" if self.total else ""
            tail = f": {self.message}" if self.message else ""
            return f"{head}{count}{tail}"
        return {"succeeded": "Done", "failed": f"Failed: {self.error}", "cancelled": "Cancelled",
                "idle": ""}[self.state]


def worker_command(python: str, command: str, args: Sequence[str]) -> list[str]:
    """argv for ``python -m core --progress json <command> <args...>``."""
    return [python, "-m", "core", "--progress", "json", command, *args]


def _worker_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    # Blender's own Python settings must not leak into the worker's interpreter
    for name in ("PYTHONHOME", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONNOUSERSITE", "VIRTUAL_ENV"):
        env.pop(name, None)
    env["PYTHONUNBUFFERED"] = "1"
    if extra:
        env.update(extra)
    return env


class WorkerJob:
    """One worker run.

    Args:
        argv: full command line (see :func:`worker_command`); run without a shell.
        cwd: working directory (the extension root, so ``core`` and ``models`` import).
        env: extra environment variables.
        kill_grace_s: seconds between SIGTERM and SIGKILL on cancel.
        log_path: when given, stderr is also written to this file.
        on_event: called (on the polling thread) for each protocol event.
    """

    def __init__(self, argv: Sequence[str], cwd: str, *, env: dict[str, str] | None = None,
                 kill_grace_s: float = 5.0, log_path: str | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.argv = [str(a) for a in argv]
        self.cwd = cwd
        self.env = env
        self.kill_grace_s = kill_grace_s
        self.log_path = log_path
        self.on_event = on_event
        self.status = JobStatus()
        self.returncode: int | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._process: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []
        self._cancel_at: float | None = None
        self._error_event: dict[str, Any] | None = None
        self._done_event: dict[str, Any] | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker. Raises OSError (with a clear message) when it cannot start."""
        if self._process is not None:
            raise RuntimeError("job already started")
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if os.name == "nt" else 0
        try:
            self._process = subprocess.Popen(
                self.argv, cwd=self.cwd, env=_worker_env(self.env), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                errors="replace", bufsize=1, creationflags=flags)
        except OSError as exc:
            raise OSError(f"cannot start the worker {self.argv[0]!r}: {exc.strerror or exc}") from exc
        self.status = JobStatus(state="running", message="starting")
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for thread in self._threads:
            thread.start()

    def cancel(self) -> None:
        """Ask the worker to stop (SIGTERM now; :meth:`poll` sends SIGKILL after the grace time)."""
        if self._process is None or self.finished:
            return
        if self._cancel_at is None:
            self._cancel_at = time.monotonic()
            self.status.state = "cancelling"
            if self._process.poll() is None:
                self._process.terminate()

    @property
    def finished(self) -> bool:
        return self.status.state in FINISHED_STATES

    def poll(self) -> JobStatus:
        """Apply pending events, escalate a cancel, and detect the end of the run. Never blocks."""
        self._drain()
        proc = self._process
        if proc is None or self.finished:
            return self.status
        code = proc.poll()
        if code is None:
            if self._cancel_at is not None and time.monotonic() - self._cancel_at > self.kill_grace_s:
                proc.kill()
            return self.status
        # the process is gone: let the readers hit EOF, then read what they got
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._drain()
        self.returncode = code
        self._finish(code)
        return self.status

    def wait(self, timeout: float | None = None, interval: float = 0.05) -> JobStatus:
        """Poll until finished (tests, headless use). Raises TimeoutError after ``timeout`` s."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll().state not in FINISHED_STATES:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"worker still running after {timeout} s")
            time.sleep(interval)
        return self.status

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    # -- internals ------------------------------------------------------------------------
    def _finish(self, code: int) -> None:
        status = self.status
        if self._cancel_at is not None:
            status.state = "cancelled"
            status.message = "cancelled"
            return
        if code == 0 and self._error_event is None:
            output = str((self._done_event or {}).get("output") or "")
            if self._done_event is None:
                status.state, status.error = "failed", "the worker ended without reporting a result"
            elif output and not os.path.isfile(output):
                status.state, status.error = "failed", f"the worker reported {output} but it does not exist"
            else:
                status.state, status.output = "succeeded", output
            return
        status.state = "failed"
        if self._error_event is not None and self._error_event.get("message"):
            status.error = str(self._error_event["message"])
        else:
            tail = [line for line in self.stderr_tail if line.strip() and not _NATIVE_LOG.match(line)]
            detail = "\n".join(tail[-8:]) if tail else "no message"
            if code is not None and code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = f"signal {-code}"
                hint = " (often: out of memory)" if name == "SIGKILL" else ""
                status.error = f"the worker was killed by {name}{hint}; nothing was written. Last output: {detail}"
            else:
                status.error = f"worker exited with code {code}: {detail}"

    def _drain(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            self._apply(event)
            if self.on_event is not None:
                self.on_event(event)

    def _apply(self, event: dict[str, Any]) -> None:
        status = self.status
        kind = event.get("event")
        if kind == "stage":
            status.stage = str(event.get("stage") or "")
            status.total = event.get("total")
            status.current = 0
            status.message = str(event.get("message") or "")
        elif kind == "progress":
            status.stage = str(event.get("stage") or status.stage)
            status.current = int(event.get("current") or 0)
            status.total = event.get("total", status.total)
            status.message = str(event.get("message") or "")
        elif kind == "info":
            status.message = str(event.get("message") or "")
        elif kind == "done":
            self._done_event = event
            status.summary = {k: v for k, v in event.items() if k not in ("event", "output")}
        elif kind == "error":
            self._error_event = event

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            text = line.strip()
            if not text:
                continue
            try:
                event = json.loads(text)
            except json.JSONDecodeError:
                event = None
            if isinstance(event, dict) and "event" in event:
                self._events.put(event)
            else:  # not protocol: keep it with the log
                self.stderr_tail.append(text)

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        log = open(self.log_path, "w", encoding="utf-8") if self.log_path else None
        try:
            for line in self._process.stderr:
                self.stderr_tail.append(line.rstrip("\n"))
                if log is not None:
                    log.write(line)
                    log.flush()
        finally:
            if log is not None:
                log.close()
