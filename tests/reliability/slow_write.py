"""Run ``python -m core`` with a slow disk: every ``.npz`` write sleeps first (test harness only).

``python tests/reliability/slow_write.py SECONDS --progress json capture ...``: patches
``numpy.savez_compressed`` / ``numpy.savez`` at the OS boundary so a write takes SECONDS
(after the temporary file exists), which lets a test cancel the worker *during* the write stage.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _slow(original):  # type: ignore[no-untyped-def]
    def write(*args, **kwargs):  # type: ignore[no-untyped-def]
        print("slow_write: writing", file=sys.stderr, flush=True)
        time.sleep(DELAY)
        return original(*args, **kwargs)

    return write


DELAY = float(sys.argv[1])
np.savez_compressed = _slow(np.savez_compressed)
np.savez = _slow(np.savez)

if __name__ == "__main__":
    from core.__main__ import main

    sys.exit(main(sys.argv[2:]))
