"""Capture: the operator's worker command, its errors, and a real worker run end to end."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / ".venv" / "worker" / "bin" / "python"
SAMPLE_FOOTAGE = REPO / "data" / "samples" / "default" / "footage.mp4"
needs_worker = pytest.mark.skipif(not WORKER.exists(), reason="worker environment not installed")


@pytest.fixture
def prefs(ext):
    """The extension's preferences, pointing at the checkout's worker interpreter."""
    package = ext.__name__.rsplit(".", 1)[0]
    preferences = bpy.context.preferences.addons[package].preferences
    preferences.worker_python = str(WORKER)
    return preferences


def test_settings_become_the_worker_arguments(ext, empty_scene, worker_parse):
    capture = ext.operators.capture
    s = empty_scene.video_mocap
    s.use_frame_range, s.frame_start, s.frame_end = True, 5, 40
    s.max_people, s.use_hands, s.use_face, s.smoothing = 2, False, True, 0.5
    s.focal_mode, s.focal_mm, s.sensor_mm = "LENS", 24.0, 23.5
    for text in ("10,20,110,220@5", "300.5,40,400,300@12"):
        assert bpy.ops.video_mocap.box_add(text=text) == {"FINISHED"}
    args = capture.capture_arguments(s, "/footage/clip.mp4", "/out/m.npz")
    parsed = worker_parse(["--progress", "json", "capture", *args])
    assert parsed["input"] == "/footage/clip.mp4" and parsed["output"] == "/out/m.npz"
    assert (parsed["start"], parsed["end"]) == (5, 41)  # the panel's last frame is inclusive
    assert (parsed["max_people"], parsed["no_hands"], parsed["no_face"], parsed["smoothing"]) == (2, True, False, 0.5)
    assert (parsed["focal_mm"], parsed["sensor_mm"], parsed["fov_deg"]) == (24.0, 23.5, None)
    assert parsed["person"] == ["10,20,110,220@5", "300.5,40,400,300@12"]
    s.focal_mode, s.fov_deg, s.use_frame_range = "FOV", 60.0, False
    parsed = worker_parse(["capture", *capture.capture_arguments(s, "a.mp4", "b.npz")])
    assert (parsed["fov_deg"], parsed["focal_mm"], parsed["start"], parsed["end"]) == (60.0, None, 0, None)
    assert parsed["mirrored"] is False
    s.mirrored = True
    assert worker_parse(["capture", *capture.capture_arguments(s, "a.mp4", "b.npz")])["mirrored"] is True


def test_bad_boxes_are_refused(ext, empty_scene):
    with pytest.raises(RuntimeError, match="X0,Y0,X1,Y1@FRAME"):
        bpy.ops.video_mocap.box_add(text="10,20,5@3")
    assert len(empty_scene.video_mocap.boxes) == 0
    with pytest.raises(RuntimeError, match="X1 must exceed X0"):
        bpy.ops.video_mocap.box_add(text="100,20,50,80@3")
    assert bpy.ops.video_mocap.box_add() == {"FINISHED"}  # an empty box to edit in the panel
    with pytest.raises(ValueError, match="empty"):
        ext.operators.capture.capture_arguments(empty_scene.video_mocap, "a.mp4", "b.npz")
    assert bpy.ops.video_mocap.box_remove() == {"FINISHED"}
    assert len(empty_scene.video_mocap.boxes) == 0


def test_missing_footage_is_reported_before_any_worker_runs(prefs, empty_scene, tmp_path):
    before = len(bpy.data.objects)
    with pytest.raises(RuntimeError, match="Choose the footage"):
        bpy.ops.video_mocap.capture()
    empty_scene.video_mocap.footage_path = str(tmp_path / "missing.mp4")
    with pytest.raises(RuntimeError, match="Footage not found"):
        bpy.ops.video_mocap.capture()
    assert len(bpy.data.objects) == before


@needs_worker
def test_worker_error_reaches_the_user_and_scene_is_untouched(prefs, ext, empty_scene, tmp_path):
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video\n" * 20)
    empty_scene.video_mocap.footage_path = str(not_video)
    before = sorted(o.name for o in bpy.data.objects)
    with pytest.raises(RuntimeError, match="Capture failed: .*notes.mp4"):
        bpy.ops.video_mocap.capture()
    assert sorted(o.name for o in bpy.data.objects) == before
    last = ext.operators.capture.LAST_STATUS
    assert last.state == "failed" and "notes.mp4" in last.error


@needs_worker
@pytest.mark.slow
def test_capture_runs_the_real_worker_on_a_tiny_clip_and_applies_it(prefs, ext, empty_scene, opencv_doc_data):
    """The whole chain headless: the operator runs the real worker on 4 frames of a real
    street video (vtest.avi, 768x576), reads its motion file and builds the take."""
    settings = empty_scene.video_mocap
    settings.footage_path = str(opencv_doc_data / "vtest.avi")
    settings.use_frame_range, settings.frame_start, settings.frame_end = True, 2, 5
    settings.max_people = 3
    assert bpy.ops.video_mocap.capture() == {"FINISHED"}
    status = ext.operators.capture.LAST_STATUS
    assert status.state == "succeeded" and Path(status.output).is_file()
    assert Path(status.output).parent.name == "takes"  # the extension's user folder
    assert settings.last_take == status.output
    armatures = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert 1 <= len(armatures) <= 3 and all(o.animation_data.action is not None for o in armatures)
    assert (empty_scene.frame_start, empty_scene.frame_end) == (3, 6)  # source frames 2..5
    assert empty_scene.camera is not None and empty_scene.camera.data.background_images[0].clip is not None
    assert (empty_scene.render.resolution_x, empty_scene.render.resolution_y) == (768, 576)


@pytest.fixture
def smplx_prefs(prefs):
    """``prefs`` whose body-model settings are cleared again after the test."""
    yield prefs
    prefs.smplx_dir, prefs.smplx_gender = "", "neutral"


@needs_worker
def test_smplx_preferences_become_the_worker_arguments(smplx_prefs, ext, empty_scene, tmp_path, worker_parse):
    capture = ext.operators.capture
    settings = empty_scene.video_mocap
    settings.footage_path = str(tmp_path / "clip.mp4")
    (tmp_path / "clip.mp4").write_bytes(b"not read here")
    job = capture.new_capture_job(bpy.context)
    assert "--smplx-dir" not in job.argv and "--gender" not in job.argv  # unset: mannequin-x
    smplx_prefs.smplx_dir, smplx_prefs.smplx_gender = str(tmp_path / "models") + "/", "female"
    job = capture.new_capture_job(bpy.context)
    parsed = worker_parse(job.argv[job.argv.index("capture"):])
    assert parsed["smplx_dir"] == str(tmp_path / "models") and parsed["gender"] == "female"
    smplx_prefs.smplx_dir = "   "  # blank is unset
    assert "--smplx-dir" not in capture.new_capture_job(bpy.context).argv


@needs_worker
@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE_FOOTAGE.exists(), reason="ground-truth samples not rendered (make samples)")
def test_capture_with_the_users_smplx_folder_fits_and_builds_that_model(smplx_prefs, ext, empty_scene,
                                                                         tmp_path):
    """Preferences -> real worker -> motion file of the official-format model -> rig of that model."""
    from addon.motion_file import load_motion
    from models.smplx_files import write_smplx_npz

    model_file = write_smplx_npz(tmp_path / "models" / "smplx" / "SMPLX_NEUTRAL.npz")
    smplx_prefs.smplx_dir = str(tmp_path / "models")
    settings = empty_scene.video_mocap
    settings.footage_path = str(SAMPLE_FOOTAGE)
    settings.use_frame_range, settings.frame_start, settings.frame_end = True, 0, 3
    assert bpy.ops.video_mocap.capture() == {"FINISHED"}
    status = ext.operators.capture.LAST_STATUS
    assert status.state == "succeeded" and status.summary["body_model"] == "smplx"
    motion = load_motion(status.output)
    assert motion.avatar.model == "smplx" and str(motion.extras["avatar/source"]) == model_file.name
    with np.load(model_file) as official:
        num_vertices = official["v_template"].shape[0]
    meshes = [o for o in bpy.data.objects if o.type == "MESH" and o.parent is not None
              and o.parent.type == "ARMATURE"]
    assert meshes and all(len(o.data.vertices) == num_vertices for o in meshes)
    armature = meshes[0].parent
    assert len(armature.data.bones) == 55 and armature.animation_data.action is not None
    # the fitted expression plays on SMPL-X's own expression basis: one shape key per coefficient
    mesh, person = meshes[0], motion.people[0]
    keys = mesh.data.shape_keys
    assert [b.name for b in keys.key_blocks] == ["Basis"] + [f"Expression {k}" for k in range(10)]
    with np.load(model_file) as official:
        dirs = official["shapedirs"][:, :, 300:310]
    co = np.empty(num_vertices * 3, np.float32)
    keys.key_blocks["Expression 3"].data.foreach_get("co", co)
    np.testing.assert_allclose(co.reshape(-1, 3), person.rest_vertices + dirs[:, :, 3], atol=1e-5)
    frame = int(motion.frame_index[2]) + 1
    empty_scene.frame_set(frame)
    values = [keys.key_blocks[f"Expression {k}"].value for k in range(10)]
    np.testing.assert_allclose(values, person.expression[2], atol=1e-4)
    assert np.abs(person.expression).max() > 0


@needs_worker
def test_a_bad_smplx_folder_is_reported_and_the_scene_is_untouched(smplx_prefs, ext, empty_scene, tmp_path):
    settings = empty_scene.video_mocap
    settings.footage_path = str(tmp_path / "clip.mp4")  # the model is checked before the footage is read
    (tmp_path / "clip.mp4").write_bytes(b"not read")
    before = sorted(o.name for o in bpy.data.objects)
    (tmp_path / "empty").mkdir()
    for folder, words in ((tmp_path / "missing", "does not exist"),
                          (tmp_path / "empty", "no SMPL-X model file")):
        smplx_prefs.smplx_dir = str(folder)
        with pytest.raises(RuntimeError, match=f"Capture failed: .*{words}"):
            bpy.ops.video_mocap.capture()
        last = ext.operators.capture.LAST_STATUS
        assert last.state == "failed" and str(folder) in last.error
    assert sorted(o.name for o in bpy.data.objects) == before
