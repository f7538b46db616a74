"""FBX, BVH and glTF export of the SMPL-X avatar through Blender's exporters, re-imported
and compared joint by joint (world-space rotations and positions)."""

from __future__ import annotations

import bpy
import pytest

from addon.export.formats import ExportError, export_armature

pytestmark = pytest.mark.compat42

IMPORTERS = {
    "FBX": lambda p: bpy.ops.import_scene.fbx(filepath=p, use_anim=True, ignore_leaf_bones=False),
    "BVH": lambda p: bpy.ops.import_anim.bvh(filepath=p, rotate_mode="NATIVE", use_fps_scale=False,
                                             update_scene_duration=False),
    "GLTF": lambda p: bpy.ops.import_scene.gltf(filepath=p),
}


@pytest.mark.parametrize("fmt", ["FBX", "BVH", "GLTF"])
def test_avatar_round_trip(avatar, tmp_path, round_trip, fmt):
    import addon_utils

    obj = avatar.armature
    path = str(tmp_path / f"avatar.{fmt.lower()}")
    assert export_armature(bpy.context, obj, path, fmt) == path
    assert not [p for p in tmp_path.iterdir() if p.name != f"avatar.{fmt.lower()}"]   # no temp leftovers
    addon_utils.enable({"FBX": "io_scene_fbx", "BVH": "io_anim_bvh", "GLTF": "io_scene_gltf2"}[fmt])
    before = set(bpy.data.objects)
    IMPORTERS[fmt](path)
    imported = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"]
    assert len(imported) == 1
    frames = list(range(1, 25))
    best = min((round_trip(obj, imported[0], frames, off) for off in (-1, 0, 1)), key=lambda e: e[0])
    print(f"{fmt} round trip: rotation max {best[0]:.4f} deg mean {best[1]:.4f} deg, position max {best[2] * 1000:.3f} mm")
    assert best[0] < 0.1 and best[2] < 1e-3


def test_bad_export_requests(avatar, tmp_path):
    with pytest.raises(ExportError, match="unknown format"):
        export_armature(bpy.context, avatar.armature, str(tmp_path / "x.obj"), "OBJ")
    with pytest.raises(ExportError, match="does not exist"):
        export_armature(bpy.context, avatar.armature, str(tmp_path / "missing" / "x.fbx"), "FBX")
    with pytest.raises(ExportError, match="armature"):
        export_armature(bpy.context, None, str(tmp_path / "x.fbx"), "FBX")
