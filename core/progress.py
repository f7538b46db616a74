"""Progress reporting for worker commands.

Two renderings of the same events:

* ``text``: a tqdm-style bar on stderr for people at a terminal;
* ``json``: one JSON object per line on stdout, read by the Blender add-on
  (see docs/formats.md, "Worker protocol").

Commands receive a :class:`Progress` and call ``stage(...)`` / ``update(...)``;
they never print progress themselves.
"""

from __future__ import annotations

import json
import sys
import time
from typing import IO, Any, Literal

Mode = Literal["text", "json", "quiet"]


class Progress:
    """Stage-based progress sink.

    Args:
        mode: ``text`` (bar on stderr), ``json`` (JSON lines on stdout) or ``quiet``.
        min_interval_s: at most one update per stage is emitted per this many seconds
            (the first and last update of a stage are always emitted).
    """

    def __init__(self, mode: Mode = "text", *, min_interval_s: float = 0.1,
                 stream: IO[str] | None = None) -> None:
        self.mode: Mode = mode
        self.min_interval_s = min_interval_s
        self._stream = stream
        self._stage = ""
        self._total: int | None = None
        self._last_emit = 0.0
        self._bar: Any = None

    # -- events -----------------------------------------------------------------
    def stage(self, name: str, total: int | None = None, message: str = "") -> None:
        """Start a named stage (``detect``, ``fit``, ...) with an optional item count."""
        self._close_bar()
        self._stage, self._total, self._last_emit = name, total, 0.0
        if self.mode == "json":
            self._json({"event": "stage", "stage": name, "total": total, "message": message})
        elif self.mode == "text":
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=name, unit="it", file=sys.stderr,
                             dynamic_ncols=True, leave=True)

    def update(self, current: int, message: str = "") -> None:
        """Report ``current`` items done in the current stage."""
        now = time.monotonic()
        last = self._total is not None and current >= self._total
        if not last and now - self._last_emit < self.min_interval_s:
            return
        self._last_emit = now
        if self.mode == "json":
            self._json({"event": "progress", "stage": self._stage, "current": current,
                        "total": self._total, "message": message})
        elif self.mode == "text" and self._bar is not None:
            self._bar.n = current
            if message:
                self._bar.set_postfix_str(message, refresh=False)
            self._bar.refresh()

    def info(self, message: str) -> None:
        """A free-text note (shown in the add-on's status line, printed on stderr)."""
        if self.mode == "json":
            self._json({"event": "info", "stage": self._stage, "message": message})
        elif self.mode == "text":
            self._close_bar()
            print(message, file=sys.stderr)

    def done(self, output: str | None = None, **summary: Any) -> None:
        """The command finished; ``output`` is the file it wrote."""
        self._close_bar()
        if self.mode == "json":
            self._json({"event": "done", "output": output, **summary})

    def error(self, message: str, kind: str, exit_code: int, traceback: str | None = None) -> None:
        """The command failed with a message for the user."""
        self._close_bar()
        if self.mode == "json":
            self._json({"event": "error", "message": message, "kind": kind,
                        "exit_code": exit_code, "traceback": traceback})
        else:
            print(f"error: {message}", file=sys.stderr)

    # -- helpers ----------------------------------------------------------------
    def _json(self, obj: dict[str, Any]) -> None:
        stream = self._stream or sys.stdout
        stream.write(json.dumps(obj) + "\n")
        stream.flush()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
