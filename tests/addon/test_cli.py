"""``python -m addon.cli animate``: a real subprocess with Blender's Python (bpy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bpy
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "addon.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


def _footage_png(path: Path, size: tuple[int, int]) -> Path:
    w, h = size
    image = bpy.data.images.new("footage", w, h)
    px = np.zeros((h, w, 4), np.float32)
    px[..., 0] = np.linspace(0.1, 0.9, w)[None]
    px[..., 1] = 0.4
    px[..., 3] = 1.0
    image.pixels.foreach_set(px.ravel())
    image.filepath_raw = str(path)
    image.file_format = "PNG"
    image.save()
    bpy.data.images.remove(image)
    return path


def _load_png(path: Path) -> np.ndarray:
    image = bpy.data.images.load(str(path))
    w, h = image.size
    px = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(px)
    bpy.data.images.remove(image)
    return px.reshape(h, w, 4)[::-1]  # top row first


def test_animate_saves_the_take_and_renders_footage_and_avatars(motion_tools, empty_scene, tmp_path):
    arrays = motion_tools.make(frames=9, people=2)
    motion = motion_tools.save(tmp_path / "motion.npz", arrays)
    footage = _footage_png(tmp_path / "footage.png", (640, 480))
    result = _cli("animate", str(motion), "--blend", str(tmp_path / "out" / "take.blend"), "--footage",
                  str(footage), "--render", str(tmp_path / "out" / "preview.png"))
    assert result.returncode == 0, result.stderr
    assert "applied 2 avatar(s)" in result.stdout

    preview = _load_png(tmp_path / "out" / "preview.png")
    assert preview.shape == (480, 1280, 4)
    left, right = preview[:, :640, :3], preview[:, 640:, :3]
    np.testing.assert_allclose(left[10, ::50, 0], np.linspace(0.1, 0.9, 640)[::50], atol=0.02)  # the footage
    covered = np.any(np.abs(right - left) > 0.05, axis=-1)
    assert covered.sum() > 20  # avatars drawn over the footage...
    # ...exactly where the motion file's joints project through its camera (frame 5 = row 4)
    joints = motion_tools.fk(arrays, 0)[4, :, :3, 3]
    joints = np.concatenate([joints, motion_tools.fk(arrays, 1)[4, :, :3, 3]])
    fx, fy = arrays["camera_focal_px"]
    cx, cy = arrays["camera_center_px"]
    u, v = fx * joints[:, 0] / joints[:, 2] + cx, fy * joints[:, 1] / joints[:, 2] + cy
    ys, xs = np.nonzero(covered)
    margin = 30
    assert xs.min() >= u.min() - margin and xs.max() <= u.max() + margin
    assert ys.min() >= v.min() - margin and ys.max() <= v.max() + margin

    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / "take.blend"))
    scene = bpy.context.scene
    assert sorted(o.name for o in bpy.data.collections["motion"].objects) == [
        "motion Camera", "motion P1", "motion P1 mesh", "motion P4", "motion P4 mesh"]
    assert scene.camera.name == "motion Camera" and scene.camera.data.background_images[0].clip is not None
    assert (scene.frame_start, scene.frame_end) == (1, 9)


@pytest.mark.parametrize("problem", ["missing motion", "missing footage", "bad motion"])
def test_bad_input_gives_a_message_and_exit_code_2(motion_tools, tmp_path, problem):
    motion = motion_tools.save(tmp_path / "motion.npz", motion_tools.make(frames=3, people=1))
    args = ["animate", str(motion), "--blend", str(tmp_path / "o.blend")]
    if problem == "missing motion":
        args[1] = str(tmp_path / "nope.npz")
    elif problem == "missing footage":
        args += ["--footage", str(tmp_path / "nope.mp4")]
    else:
        arrays = motion_tools.make(frames=3, people=1)
        arrays["p0/transl"] = arrays["p0/transl"][:2]
        motion_tools.save(motion, arrays)
    result = _cli(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert not (tmp_path / "o.blend").exists()
