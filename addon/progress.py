"""``wm.progress_*`` as a context manager (the cursor/status-bar progress during long calls).

    with progress_bar(context.window_manager, total=len(people)) as bar:
        for i, person in enumerate(people):
            ...
            bar.update(i + 1)

Works headless too (the calls are no-ops without a window).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import bpy


@dataclass
class ProgressBar:
    """Handle given by :func:`progress_bar`; ``update(value)`` with 0 <= value <= total."""

    window_manager: bpy.types.WindowManager | None
    total: float

    def update(self, value: float) -> None:
        if self.window_manager is not None:
            self.window_manager.progress_update(min(max(value, 0.0), self.total))


@contextmanager
def progress_bar(window_manager: bpy.types.WindowManager | None, total: float) -> Iterator[ProgressBar]:
    """Begin a progress indicator from 0 to ``total``; always ended, also on errors."""
    if window_manager is not None:
        window_manager.progress_begin(0.0, max(float(total), 1.0))
    try:
        yield ProgressBar(window_manager, float(total))
    finally:
        if window_manager is not None:
            window_manager.progress_end()
