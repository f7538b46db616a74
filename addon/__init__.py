"""Blender side of Video Mocap: panel, operators, preferences, rigs, keys, camera.

Everything here runs in Blender's own Python and may import bpy; it never imports
torch, cv2, mediapipe or mannequin. The worker (``core``) runs in its own process.

Installed as an extension, this package is ``bl_ext.<repo>.video_mocap.addon`` and
the extension's root ``__init__.py`` (written by build.py) re-exports
``register``/``unregister`` from here. Use relative imports only.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# Registration order: preferences and scene properties before the operators and
# panels that use them. Each module defines register() and unregister().
MODULE_NAMES = ("preferences", "properties", "operators", "panels")


def _modules() -> list[ModuleType]:
    modules = []
    for name in MODULE_NAMES:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
            continue
        if hasattr(module, "register"):  # skip a bare folder (namespace package)
            modules.append(module)
    return modules


def extension_root() -> str:
    """Folder holding ``addon/``, ``core/`` and ``models/`` (the worker runs from here)."""
    import os

    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def register() -> None:
    for module in _modules():
        module.register()


def unregister() -> None:
    for module in reversed(_modules()):
        module.unregister()
