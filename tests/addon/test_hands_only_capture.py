"""Hands-only capture in the add-on: the Hands Only setting becomes the worker's ``--hands-only
--mano-dir`` arguments, and a capture from the real worker (hands region of the clap sample,
test-made MANO files) is read and built into two MANO armatures, directly and by the operator."""

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

VIDEO = ("import sys, cv2; from pathlib import Path; frames = sorted(Path(sys.argv[1]).glob('*.png')); "
         "first = cv2.imread(str(frames[0])); h, w = first.shape[:2]; "
         "out = cv2.VideoWriter(sys.argv[2], cv2.VideoWriter_fourcc(*'MJPG'), 30.0, (w, h)); "
         "[out.write(cv2.imread(str(f))) for f in frames]; out.release()")


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


@pytest.fixture
def mano_prefs(ext):
    """The extension's preferences pointing at the checkout's worker; the MANO folder and the scene's
    Hands Only are cleared again after the test."""
    package = ext.__name__.rsplit(".", 1)[0]
    preferences = bpy.context.preferences.addons[package].preferences
    preferences.worker_python = str(WORKER)
    yield preferences
    preferences.mano_dir = ""


def test_hands_only_setting_becomes_the_worker_arguments(mano_prefs, ext, empty_scene, tmp_path,
                                                         worker_parse):
    capture = ext.operators.capture
    settings = empty_scene.video_mocap
    settings.footage_path = str(tmp_path / "clip.mp4")
    (tmp_path / "clip.mp4").write_bytes(b"not read here")
    settings.hands_only, settings.use_hands, settings.focal_mode, settings.fov_deg = True, False, "FOV", 40.0
    assert bpy.ops.video_mocap.box_add(text="10,20,110,220@5") == {"FINISHED"}  # boxes choose people: unused
    with pytest.raises(ValueError, match="MANO Models"):
        capture.new_capture_job(bpy.context)
    mano_prefs.mano_dir = str(tmp_path / "mano") + "/"
    job = capture.new_capture_job(bpy.context)
    parsed = worker_parse(job.argv[job.argv.index("capture"):])
    assert parsed["hands_only"] and parsed["mano_dir"] == str(tmp_path / "mano")
    assert parsed["person"] == [] and parsed["max_people"] is None and not parsed["no_hands"]
    assert parsed["fov_deg"] == 40.0 and parsed["smplx_dir"] is None
    settings.hands_only = False
    parsed = worker_parse(capture.new_capture_job(bpy.context).argv[job.argv.index("capture"):])
    assert not parsed["hands_only"] and parsed["mano_dir"] is None and parsed["no_hands"]


@pytest.mark.slow
@pytest.mark.skipif(not WORKER.exists(), reason="worker environment not installed")
def test_capture_operator_with_hands_only_builds_mano_hands(mano_prefs, ext, empty_scene, tmp_path):
    """The operator end to end: Hands Only + the preferences' MANO folder -> two MANO armatures."""
    setup = subprocess.run([str(WORKER), "-c", SETUP, str(tmp_path)], cwd=REPO, capture_output=True,
                           text=True, timeout=300)
    assert setup.returncode == 0, setup.stderr[-2000:]
    encode = subprocess.run([str(WORKER), "-c", VIDEO, str(tmp_path / "clip"), str(tmp_path / "hands.avi")],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert encode.returncode == 0, encode.stderr[-2000:]
    settings = empty_scene.video_mocap
    settings.footage_path = str(tmp_path / "hands.avi")  # a video: the take's camera shows it
    settings.hands_only = True
    mano_prefs.mano_dir = str(tmp_path / "mano")
    assert bpy.ops.video_mocap.capture() == {"FINISHED"}
    status = ext.operators.capture.LAST_STATUS
    assert status.state == "succeeded", getattr(status, "error", status)
    armatures = sorted(o.name for o in bpy.data.objects if o.type == "ARMATURE")
    assert len(armatures) == 2 and "Left Hand" in armatures[0] and "Right Hand" in armatures[1], armatures
