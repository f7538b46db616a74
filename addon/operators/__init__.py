"""Operators (``video_mocap.<verb>``), one module per job; each module lists its ``CLASSES``.

Modules listed in :data:`MODULE_NAMES` that do not exist yet are skipped, so teammates
can add theirs (retarget, export, edit) by adding a module with ``CLASSES``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import bpy

MODULE_NAMES = ("apply", "capture", "retarget", "export", "edit")


def _modules() -> list[ModuleType]:
    modules = []
    for name in MODULE_NAMES:
        try:
            modules.append(importlib.import_module(f".{name}", __package__))
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
    return modules


def _classes() -> list[type]:
    return [cls for module in _modules() for cls in getattr(module, "CLASSES", ())]


def register() -> None:
    for cls in _classes():
        bpy.utils.register_class(cls)


def unregister() -> None:
    from . import capture

    if capture.ACTIVE_JOB is not None:
        capture.ACTIVE_JOB.cancel()
        capture.ACTIVE_JOB = None
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)
