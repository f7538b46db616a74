"""The one atomic file write of the worker: write beside the target, then rename onto it.

A reader sees the old file or the complete new one, never a partial one; on any failure
(a full disk, an exception, Ctrl-C) the temporary file is removed and the old file kept.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from core.errors import OutputError


def write_atomic(path: str | os.PathLike[str], write: Callable[[str], object], suffix: str = ".tmp") -> None:
    """Call ``write(tmp_path)`` for a new temporary file beside ``path``, then rename it onto ``path``.

    Args:
        path: the file to create or replace; its folder must exist.
        write: fills the temporary file (given its path; it may reopen it by name).
        suffix: the temporary file's ending (writers that choose a container from it need the
            target's own ending).

    The result has the usual permissions (0666 less the umask; mkstemp makes 0600).

    Raises:
        OutputError: the temporary file cannot be made, written or renamed.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=suffix, dir=folder)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(fd, 0o666 & ~umask)
        os.close(fd)
        write(tmp)
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
