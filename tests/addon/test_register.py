"""Enabling and disabling the extension leaves nothing behind."""

from __future__ import annotations

import bpy


def _snapshot() -> dict:
    return {"types": {name for name in dir(bpy.types) if "MOCAP" in name.upper()},
            "ops": set(dir(bpy.ops.video_mocap)),
            "scene_prop": hasattr(bpy.types.Scene, "video_mocap"),
            "handlers": {name: len(getattr(bpy.app.handlers, name)) for name in dir(bpy.app.handlers)
                         if not name.startswith("_") and isinstance(getattr(bpy.app.handlers, name), list)}}


def test_register_then_unregister_restores_blender(tmp_path, extension_loader):
    enable_extension, disable_extension = extension_loader
    before = _snapshot()
    assert not before["scene_prop"] and before["types"] == set()
    name, repo = enable_extension(tmp_path / "repo", "vm_register_test")
    try:
        during = _snapshot()
        assert during["scene_prop"]
        assert {"capture", "apply", "cancel_capture", "box_add", "box_remove"} <= during["ops"]
        assert {"VIDEOMOCAP_PT_capture", "VIDEOMOCAP_PT_apply", "VIDEOMOCAP_PT_boxes", "VIDEOMOCAP_UL_boxes",
                "VIDEO_MOCAP_OT_capture", "VIDEO_MOCAP_OT_apply"} <= during["types"], during["types"]
        settings = bpy.context.scene.video_mocap
        assert type(settings).__name__ == "VIDEOMOCAP_PG_settings" and settings.max_people == 4
        panel = bpy.types.VIDEOMOCAP_PT_capture
        assert (panel.bl_space_type, panel.bl_region_type, panel.bl_category) == ("VIEW_3D", "UI", "Mocap")
    finally:
        disable_extension(name, repo)
    assert _snapshot() == before
