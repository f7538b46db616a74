"""Blender-side fixtures: headless bpy with the add-on enabled as an extension, the real worker,
and damaged copies of a motion file made by the real writer."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

if "bpy" not in sys.modules:
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="vm_reliability_user_")
# workers started by these tests keep resume checkpoints in a temporary folder, not ~/.cache
os.environ["VIDEO_MOCAP_CHECKPOINTS"] = tempfile.mkdtemp(prefix="vm_reliability_checkpoints_")

import bpy  # noqa: E402
import addon_utils  # noqa: E402  (importable once bpy is)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
WORKER = REPO / ".venv" / "worker" / "bin" / "python"
DATA = REPO / ".cache" / "opencv-doc" / "usr/share/doc/opencv-doc/examples/data"


@pytest.fixture(scope="session")
def ext(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The extension's ``addon`` package, enabled the way Blender loads an installed extension."""
    root = tmp_path_factory.mktemp("ext_repo")
    package = root / "video_mocap"
    package.mkdir()
    for name in ("addon", "core", "models", "requirements", "blender_manifest.toml"):
        if (REPO / name).exists():
            (package / name).symlink_to(REPO / name)
    (package / "__init__.py").write_text("from .addon import register, unregister\n", encoding="utf-8")
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(name="vm_reliability", module="vm_reliability", custom_directory=str(root), source="USER")
    name = "bl_ext.vm_reliability.video_mocap"
    assert addon_utils.enable(name, default_set=True, handle_error=None) is not None
    try:
        yield importlib.import_module(f"{name}.addon")
    finally:
        addon_utils.disable(name, default_set=True, handle_error=None)
        repos.remove(repo)


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory, opencv_doc_data: Path) -> dict[str, Path]:
    """``motion`` (valid, made by core.motion.write_motion in the worker), ``clip`` (8 frames, two
    people), ``keypoints`` (detect's output for ``clip``), ``long_clip`` (80 frames), ``long_keypoints``
    (detect's output for ``long_clip``: its fit lasts seconds, so a test can cancel while it fits)."""
    root = tmp_path_factory.mktemp("files")
    motion = root / "valid_motion.npz"
    made = subprocess.run([str(WORKER), str(REPO / "tests" / "reliability" / "valid_motion.py"), str(motion)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-2000:]
    script = ("import sys, cv2\n"
              "a, b = (cv2.imread(sys.argv[1] + n) for n in ('/basketball1.png', '/basketball2.png'))\n"
              "for name, count in (('clip.avi', 8), ('long_clip.avi', 80)):\n"
              "    w = cv2.VideoWriter(sys.argv[2] + '/' + name, cv2.VideoWriter_fourcc(*'MJPG'), 10, (640, 480))\n"
              "    [w.write(a if k % 2 == 0 else b) for k in range(count)]\n"
              "    w.release()\n")
    made = subprocess.run([str(WORKER), "-c", script, str(opencv_doc_data), str(root)], capture_output=True,
                          text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    keypoints, long_keypoints = root / "keypoints.npz", root / "long_keypoints.npz"
    for source, target in ((root / "clip.avi", keypoints), (root / "long_clip.avi", long_keypoints)):
        made = subprocess.run([str(WORKER), "-m", "core", "--progress", "quiet", "detect", str(source),
                               "-o", str(target), "--no-face"], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert made.returncode == 0, made.stderr[-2000:]
    return {"motion": motion, "clip": root / "clip.avi", "long_clip": root / "long_clip.avi",
            "keypoints": keypoints, "long_keypoints": long_keypoints}


def scene_counts() -> dict[str, int]:
    """Number of datablocks of each kind (and RSS is elsewhere): equal before/after = nothing added."""
    kinds = ("objects", "meshes", "armatures", "actions", "cameras", "collections", "images", "movieclips",
             "materials", "node_groups")
    return {k: len(getattr(bpy.data, k)) for k in kinds}


@pytest.fixture
def empty_scene() -> Any:
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene


@pytest.fixture(scope="session")
def h() -> SimpleNamespace:
    return SimpleNamespace(scene_counts=scene_counts, REPO=REPO, WORKER=WORKER, np=np)
