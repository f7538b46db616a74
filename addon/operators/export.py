"""``video_mocap.export_animation`` (FBX/BVH/glTF through Blender's exporters) and
``video_mocap.export_amass`` (SMPL-X parameters, AMASS-style npz)."""

from __future__ import annotations

import bpy
from bpy.props import EnumProperty, StringProperty

from ..export.amass import AmassError, write_amass
from ..export.formats import ExportError, export_armature
from .reporting import run_and_report


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
        def export() -> str:
            filepath = bpy.path.abspath(self.filepath)
            return f"wrote {export_armature(context, context.active_object, filepath, self.format)}"

        return run_and_report(self, export, (ExportError, OSError, RuntimeError), "export failed: ")


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
        filepath = bpy.path.abspath(self.filepath)
        return run_and_report(self, lambda: f"wrote {write_amass(context, obj, filepath)}", (AmassError, OSError),
                              "export failed: ")


CLASSES = (VIDEOMOCAP_OT_export_animation, VIDEOMOCAP_OT_export_amass)
