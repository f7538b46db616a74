"""Applying motion files: exact key round trip, one undo step, rollback on failure, save/reload."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon import keys, rig
from addon.properties import box_prompt
from addon.motion_file import validate_motion
from addon.operators.apply import ApplyError, apply_motion


def _keys_of(avatar: rig.Avatar) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """frames (N,), root location (N,3), quaternions (N,J,4) read back from the F-Curves."""
    arm = avatar.armature
    root = avatar.bone_names[0]
    frames = keys.read_fcurve(keys.find_fcurve(arm, f'pose.bones["{root}"].location', 0))[0]
    loc = np.stack([keys.read_fcurve(keys.find_fcurve(arm, f'pose.bones["{root}"].location', k))[1]
                    for k in range(3)], axis=-1)
    quats = np.stack([np.stack([keys.read_fcurve(keys.find_fcurve(
        arm, f'pose.bones["{b}"].rotation_quaternion', k))[1] for k in range(4)], axis=-1)
        for b in avatar.bone_names], axis=1)
    return frames, loc, quats


@pytest.mark.compat42
@pytest.mark.parametrize("subject", ["body", "hands"])
def test_keys_equal_the_motion_file_at_every_frame(motion_tools, empty_scene, subject):
    """Round trip: keys -> joint transforms (inverting the one conversion) == the file's FK."""
    index = np.array([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22])  # stride 2: fps 12.5 rows of 25 fps footage
    arrays = motion_tools.make(frames=len(index), people=2, subject=subject, frame_index=index, fps=12.5)
    take = apply_motion(bpy.context, validate_motion(arrays), name="Take")
    assert len(take.avatars) == 2 and take.collection.name == "Take"
    assert {o.name for o in take.collection.objects} >= {take.camera.name}
    for i, avatar in enumerate(take.avatars):
        frames, loc, quats = _keys_of(avatar)
        np.testing.assert_array_equal(frames, index + 1.0)
        got = rig.joint_transforms_from_keys(avatar, loc, quats)
        np.testing.assert_allclose(got, motion_tools.fk(arrays, i), atol=1e-5)
        action = avatar.armature.animation_data.action
        assert action.name == f"Take {avatar.armature.name.split(' ', 1)[1]}"
        _, conf = keys.read_fcurve(keys.find_fcurve(avatar.armature, '["confidence"]', 0))
        np.testing.assert_allclose(conf, arrays[f"p{i}/confidence"], atol=1e-7)
        _, valid = keys.read_fcurve(keys.find_fcurve(avatar.armature, '["valid"]', 0))
        np.testing.assert_array_equal(valid.astype(bool), arrays[f"p{i}/valid"])
        if subject == "body":  # shape travels with the rig (read back by the AMASS export)
            np.testing.assert_allclose(list(avatar.armature["betas"]), arrays[f"p{i}/betas"], atol=1e-6)
        else:
            assert "betas" not in avatar.armature
    assert len({a.armature.animation_data.action for a in take.avatars}) == 2  # one action per person
    scene = empty_scene
    assert (scene.frame_start, scene.frame_end) == (1, 23)
    assert scene.render.fps == 25 and scene.camera == take.camera


def _scene_state(scene: bpy.types.Scene) -> dict:
    r = scene.render
    return {"ids": {kind: sorted(b.name for b in getattr(bpy.data, kind))
                    for kind in ("objects", "meshes", "armatures", "actions", "cameras", "collections", "movieclips")},
            "settings": (scene.frame_start, scene.frame_end, scene.frame_current, scene.camera.name if scene.camera else None, r.fps, r.fps_base,
                         r.resolution_x, r.resolution_y)}


@pytest.mark.compat42
def test_failed_apply_leaves_the_scene_exactly_as_it_was(motion_tools, empty_scene, tmp_path, monkeypatch):
    bpy.ops.mesh.primitive_cube_add()
    empty_scene.frame_end = 77
    before = _scene_state(empty_scene)
    motion = validate_motion(motion_tools.make(frames=5, people=3))
    from addon.operators import apply as apply_module

    calls = {"n": 0}
    real = apply_module.write_channels

    def fail_on_third_person(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # pose + capture channels per person: the 3rd person's pose keys
            raise RuntimeError("disk on fire")
        return real(*args, **kwargs)

    monkeypatch.setattr(apply_module, "write_channels", fail_on_third_person)
    with pytest.raises(ApplyError, match="disk on fire"):
        apply_motion(bpy.context, motion, name="Broken", footage=None)
    assert _scene_state(empty_scene) == before
    footage = tmp_path / "missing.mp4"
    monkeypatch.setattr(apply_module, "write_channels", real)
    with pytest.raises(ApplyError, match="footage not found"):
        apply_motion(bpy.context, motion, name="Broken", footage=str(footage))
    assert _scene_state(empty_scene) == before


def test_apply_operator_is_one_undo_step(ext, motion_tools, empty_scene, tmp_path):
    path = motion_tools.save(tmp_path / "take.npz", motion_tools.make(frames=6, people=2))
    bpy.ops.ed.undo_push(message="home")
    bpy.ops.ed.undo_push(message="before")
    before = _scene_state(empty_scene)
    # EXEC_DEFAULT with undo=True: the operator pushes its undo step as from the UI
    assert bpy.ops.video_mocap.apply("EXEC_DEFAULT", True, filepath=str(path)) == {"FINISHED"}
    after = _scene_state(bpy.context.scene)
    assert after != before and "take" in after["ids"]["collections"]
    bpy.ops.ed.undo()
    assert _scene_state(bpy.context.scene) == before
    bpy.ops.ed.redo()
    assert _scene_state(bpy.context.scene) == after


def test_apply_operator_reports_bad_files_and_changes_nothing(ext, empty_scene, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    before = _scene_state(empty_scene)
    with pytest.raises(RuntimeError, match="bad.npz"):  # bpy.ops raises on an ERROR report
        bpy.ops.video_mocap.apply(filepath=str(bad))
    assert _scene_state(bpy.context.scene) == before


def test_save_and_reload_keep_settings_and_results(ext, motion_tools, empty_scene, tmp_path):
    path = motion_tools.save(tmp_path / "take.npz", motion_tools.make(frames=6, people=1))
    settings = empty_scene.video_mocap
    settings.footage_path = "//clip.mp4"
    settings.max_people, settings.use_hands, settings.focal_mode, settings.focal_mm = 3, False, "LENS", 24.0
    settings.smoothing = 0.25
    assert bpy.ops.video_mocap.box_add(text="10,20,110,220@5") == {"FINISHED"}
    assert bpy.ops.video_mocap.apply(filepath=str(path)) == {"FINISHED"}
    arm = bpy.data.objects["take P1"]
    want = {c.data_path + str(c.array_index): keys.read_fcurve(c) for c in keys.owner_fcurves(arm)}
    blend = tmp_path / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    s = bpy.context.scene.video_mocap
    assert (s.footage_path, s.max_people, s.use_hands, s.focal_mode, s.focal_mm) == ("//clip.mp4", 3, False, "LENS", 24.0)
    assert s.smoothing == pytest.approx(0.25)
    assert [box_prompt(b) for b in s.boxes] == ["10,20,110,220@5"]
    arm = bpy.data.objects["take P1"]
    got = {c.data_path + str(c.array_index): keys.read_fcurve(c) for c in keys.owner_fcurves(arm)}
    assert got.keys() == want.keys() and len(got) == 55 * 4 + 3 + 2
    for name, (frames, values) in want.items():
        np.testing.assert_array_equal(got[name][0], frames)
        np.testing.assert_array_equal(got[name][1], values)
    assert bpy.data.objects["take P1 mesh"].modifiers["Armature"].object == arm


@pytest.mark.parametrize("source,std,expect", [("estimated", 210.0, "+-12 mm (estimated from perspective"),
                                               ("prior", 420.0, "+-24 mm (assumed"),
                                               ("user", 0.0, "(the lens you gave)")])
def test_the_camera_keeps_how_sure_its_lens_is(ext, motion_tools, empty_scene, tmp_path, capfd, source, std,
                                                 expect):
    """The motion file's focal source and 1-sigma become the camera's custom properties and the
    Apply report (700 px of 640 on a 36 mm sensor: 39.4 mm)."""
    arrays = motion_tools.make(frames=4, people=1)
    arrays["camera_focal_source"], arrays["camera_focal_std_px"] = np.array(source), np.array(std)
    path = motion_tools.save(tmp_path / "take.npz", arrays)
    capfd.readouterr()
    assert bpy.ops.video_mocap.apply(filepath=str(path)) == {"FINISHED"}
    cam = bpy.context.scene.camera.data
    assert cam["focal_source"] == source
    assert cam["lens_std_mm"] == pytest.approx(std * 36.0 / 640.0)
    assert cam.lens == pytest.approx(39.375)
    report = capfd.readouterr()
    assert f"camera 39.4 mm {expect}" in report.out + report.err


@pytest.mark.compat42
@pytest.mark.parametrize("mirrored", [False, True])
def test_mirrored_footage_is_shown_flipped_behind_the_camera(motion_tools, empty_scene, tmp_path, mirrored):
    """A capture of mirrored footage (``footage_mirrored``) sees the flipped-back picture: the
    camera background shows the footage flipped left to right, so the avatars line up with it."""
    image = bpy.data.images.new("frame", 64, 48)
    image.filepath_raw = str(tmp_path / "frame.png")
    image.file_format = "PNG"
    image.save()
    arrays = motion_tools.make(frames=3, people=1)
    if mirrored:
        arrays["footage_mirrored"] = np.array(True)
    motion = validate_motion(arrays)
    assert motion.camera.mirrored == mirrored and "footage_mirrored" not in motion.extras
    take = apply_motion(bpy.context, motion, name="Take", footage=str(tmp_path / "frame.png"))
    backgrounds = take.camera.data.background_images
    assert len(backgrounds) == 1 and backgrounds[0].clip == take.clip
    assert backgrounds[0].use_flip_x == mirrored and not backgrounds[0].use_flip_y
