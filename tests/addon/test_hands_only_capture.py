"""A hands-only capture from the real worker (hands region of the clap sample, test-made MANO
files) read by the add-on and built into two MANO armatures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import bpy
import numpy as np
import pytest

from addon.motion_file import load_motion
from addon.operators.apply import apply_motion
from models.skeleton import MANO_JOINT_NAMES

REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / ".venv" / "worker" / "bin" / "python"
SETUP = ("import sys; from pathlib import Path; sys.path.insert(0, 'tests/core'); "
         "import test_hands_only as t; folder = Path(sys.argv[1]); "
         "t.write_hands_clip(folder / 'clip'); t.write_mano_files(folder / 'mano'); "
         "print('\\n'.join(t.capture_command(folder / 'clip', folder / 'mano', folder / 'hands.npz')))")


@pytest.mark.slow
@pytest.mark.skipif(not WORKER.exists(), reason="worker environment not installed")
def test_hands_only_capture_builds_two_mano_armatures(ext, empty_scene, tmp_path):
    """Worker: crop + MANO files + ``capture --hands-only``; Blender: read the file, build the take."""
    setup = subprocess.run([str(WORKER), "-c", SETUP, str(tmp_path)], cwd=REPO, capture_output=True,
                           text=True, timeout=300)
    assert setup.returncode == 0, setup.stderr[-2000:]
    args = setup.stdout.strip().splitlines()
    result = subprocess.run([str(WORKER), "-m", "core", "--progress", "quiet", *args], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    motion = load_motion(tmp_path / "hands.npz")
    take = apply_motion(bpy.context, motion, name="Hands")
    assert len(take.avatars) == 2
    for avatar, person in zip(take.avatars, motion.people):
        assert len(avatar.bone_names) == len(MANO_JOINT_NAMES) == 16
        assert avatar.armature.animation_data.action is not None
        assert f"{person.side} hand" in avatar.armature.name.lower()
    wrists = [np.asarray(a.rest_joints[0]) for a in take.avatars]
    assert all(np.isfinite(w).all() for w in wrists)
    assert (empty_scene.frame_start, empty_scene.frame_end) == (1, 90)
