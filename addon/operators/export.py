"""``video_mocap.export_animation`` (FBX/BVH/glTF through Blender's exporters) and
``video_mocap.export_amass`` (SMPL-X parameters, AMASS-style npz)."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from ..export.amass import AmassError, write_amass
from ..export.formats import ExportError, export_armature


class VIDEOMOCAP_OT_export_animation(bpy.types.Operator):
    """Export the active armature and its animation (FBX, BVH or glTF)"""

    bl_idname = "video_mocap.export_animation"
    bl_label = "Export Animation"

    filepath: StringProperty(subtype="FILE_PATH")  # type: ignore[valid-type]
    format: EnumProperty(items=[("FBX", "FBX", ""), ("BVH", "BVH", ""), ("GLTF", "glTF (.glb)", "")],  # type: ignore[valid-type]
                         default="FBX")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            path = export_armature(context, context.active_object, bpy.path.abspath(self.filepath), self.format)
        except (ExportError, OSError, RuntimeError) as exc:
            self.report({"ERROR"}, f"export failed: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {path}")
        return {"FINISHED"}


class VIDEOMOCAP_OT_export_amass(bpy.types.Operator):
    """Export the active SMPL-X avatar's animation as SMPL-X parameters (AMASS-style .npz)"""

    bl_idname = "video_mocap.export_amass"
    bl_label = "Export SMPL-X (AMASS npz)"

    filepath: StringProperty(subtype="FILE_PATH")  # type: ignore[valid-type]

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = context.active_object
        if obj is None or obj.type != "ARMATURE":
            self.report({"ERROR"}, "make the SMPL-X avatar's armature active")
            return {"CANCELLED"}
        try:
            path = write_amass(context, obj, bpy.path.abspath(self.filepath))
        except (AmassError, OSError) as exc:
            self.report({"ERROR"}, f"export failed: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {path}")
        return {"FINISHED"}


CLASSES = (VIDEOMOCAP_OT_export_animation, VIDEOMOCAP_OT_export_amass)
