"""FBX / BVH / glTF export of an armature (and its meshes) through Blender's exporters."""

from __future__ import annotations

import os
import tempfile

import bpy
import numpy as np

FORMATS = ("FBX", "BVH", "GLTF")
EXTENSIONS = {"FBX": ".fbx", "BVH": ".bvh", "GLTF": ".glb"}


class ExportError(RuntimeError):
    """Export failed (shown to the user)."""


def _enable(module: str) -> None:
    import addon_utils

    loaded, enabled = addon_utils.check(module)
    if not enabled:
        addon_utils.enable(module, default_set=True)


def export_armature(context: bpy.types.Context, armature: bpy.types.Object, path: str, fmt: str,
                    frame_start: int | None = None, frame_end: int | None = None) -> str:
    """Write ``armature`` (its action, and meshes parented to it) to ``path``.

    BVH holds the skeleton in the armature's own axes, scaled to metres by the object's
    scale; the object's rotation and location are not in the file (BVH has no place for
    them).

    The file appears atomically (written to a temporary name in the same folder, then
    renamed). Selection and the active object are restored afterwards.
    """
    fmt = fmt.upper()
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt}; choose one of {', '.join(FORMATS)}")
    if armature is None or armature.type != "ARMATURE":
        raise ExportError("select an armature to export")
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise ExportError(f"folder {folder} does not exist")
    scene = context.scene
    start = scene.frame_start if frame_start is None else frame_start
    end = scene.frame_end if frame_end is None else frame_end
    view_layer = context.view_layer
    selected = [o for o in view_layer.objects if o.select_get()]
    active = view_layer.objects.active
    fd, tmp = tempfile.mkstemp(suffix=EXTENSIONS[fmt], dir=folder)
    os.close(fd)
    try:
        for o in selected:
            o.select_set(False)
        armature.select_set(True)
        for child in armature.children:
            if child.type == "MESH":
                child.select_set(True)
        view_layer.objects.active = armature
        if fmt == "FBX":
            _enable("io_scene_fbx")
            bpy.ops.export_scene.fbx(filepath=tmp, use_selection=True, object_types={"ARMATURE", "MESH"},
                                     add_leaf_bones=False, bake_anim=True, bake_anim_use_all_actions=False,
                                     bake_anim_use_nla_strips=False, bake_anim_simplify_factor=0.0)
        elif fmt == "BVH":
            _enable("io_anim_bvh")
            # BVH stores armature-space offsets: carry the object's scale (e.g. 0.01 on
            # imported FBX rigs) so the file is in metres; its rotation is not carried
            scale = float(np.mean(armature.matrix_world.to_scale()))
            bpy.ops.export_anim.bvh(filepath=tmp, frame_start=start, frame_end=end, rotate_mode="NATIVE",
                                    root_transform_only=True, global_scale=scale)
        else:
            _enable("io_scene_gltf2")
            saved = scene.frame_start, scene.frame_end
            scene.frame_start, scene.frame_end = start, end
            try:
                bpy.ops.export_scene.gltf(filepath=tmp, export_format="GLB", use_selection=True,
                                          export_animations=True, export_force_sampling=True,
                                          export_animation_mode="ACTIVE_ACTIONS")
            finally:
                scene.frame_start, scene.frame_end = saved
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    finally:
        for o in view_layer.objects:
            o.select_set(o in selected)
        view_layer.objects.active = active
    return path
