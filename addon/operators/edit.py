"""Editing operators on the active armature's take: reduce keys, re-smooth a range,
merge a re-captured range, push the take to its own NLA track."""

from __future__ import annotations

import bpy
from bpy.props import FloatProperty, IntProperty, StringProperty

from ..edit.actions import EditError, merge_channels, push_take_to_nla, reduce_action, smooth_frames
from ..edit.motion import motion_channels
from .reporting import run_and_report


def _armature(context: bpy.types.Context) -> bpy.types.Object:
    obj = context.active_object
    if obj is None or obj.type != "ARMATURE":
        raise EditError("make an armature active")
    if obj.animation_data is None or obj.animation_data.action is None:
        raise EditError(f"{obj.name} has no active take (action)")
    return obj


def _selected(pose_bone: bpy.types.PoseBone) -> bool:
    """Bone selection (on the pose bone in Blender 5.0+, on the bone before)."""
    if "select" in pose_bone.bl_rna.properties:
        return bool(pose_bone.select)
    return bool(pose_bone.bone.select)


class VIDEOMOCAP_OT_reduce_keys(bpy.types.Operator):
    """Remove keys while the motion stays within the error bound"""

    bl_idname = "video_mocap.reduce_keys"
    bl_label = "Reduce Keys"
    bl_options = {"REGISTER", "UNDO"}

    rotation_deg: FloatProperty(name="Rotation bound (deg)", default=0.5, min=0.001)  # type: ignore[valid-type]
    location_mm: FloatProperty(name="Location bound (mm)", default=1.0, min=0.001)  # type: ignore[valid-type]

    def execute(self, context: bpy.types.Context) -> set[str]:
        def reduce() -> str:
            report = reduce_action(_armature(context), self.rotation_deg, self.location_mm)
            return (f"keys {report.keys_before} -> {report.keys_after} ({report.ratio:.0%}); "
                    f"max error {report.max_rotation_error_deg:.3f} deg, "
                    f"{report.max_location_error_mm:.3f} mm")

        return run_and_report(self, reduce, (EditError,))


class VIDEOMOCAP_OT_smooth_range(bpy.types.Operator):
    """Re-smooth the keys of a frame range (rotation-aware), blending into the frames around it"""

    bl_idname = "video_mocap.smooth_range"
    bl_label = "Smooth Range"
    bl_options = {"REGISTER", "UNDO"}

    frame_start: IntProperty(name="Start")  # type: ignore[valid-type]
    frame_end: IntProperty(name="End")  # type: ignore[valid-type]
    sigma: FloatProperty(name="Sigma (frames)", default=2.0, min=0.1)  # type: ignore[valid-type]

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.frame_start, self.frame_end = context.scene.frame_preview_start, context.scene.frame_preview_end
        if not context.scene.use_preview_range:
            self.frame_start, self.frame_end = context.scene.frame_start, context.scene.frame_end
        return self.execute(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        def smooth() -> str:
            obj = _armature(context)
            bones = [pb.name for pb in obj.pose.bones if _selected(pb)] or None
            count = smooth_frames(obj, self.frame_start, self.frame_end, self.sigma, bones)
            return f"smoothed {count} curves groups in frames {self.frame_start}-{self.frame_end}"

        return run_and_report(self, smooth, (EditError,))


class VIDEOMOCAP_OT_merge_take(bpy.types.Operator):
    """Replace a frame range of the take by a re-captured motion file (other frames kept)"""

    bl_idname = "video_mocap.merge_take"
    bl_label = "Merge Re-capture"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="Motion file", subtype="FILE_PATH")  # type: ignore[valid-type]
    person: IntProperty(name="Person", default=0, min=0)  # type: ignore[valid-type]
    frame_offset: IntProperty(name="Frame offset", default=1,  # type: ignore[valid-type]
                              description="Scene frame of source frame 0")

    def execute(self, context: bpy.types.Context) -> set[str]:
        def merge() -> str:
            obj = _armature(context)
            frame_index, channels = motion_channels(obj, bpy.path.abspath(self.filepath), self.person)
            count = merge_channels(obj, frame_index + self.frame_offset, channels)
            return f"merged {count} curves over {len(frame_index)} frames"

        return run_and_report(self, merge, (EditError, OSError, KeyError, ValueError), "cannot merge: ")


class VIDEOMOCAP_OT_take_to_nla(bpy.types.Operator):
    """Put the active take on its own NLA track"""

    bl_idname = "video_mocap.take_to_nla"
    bl_label = "Take to NLA"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        def push() -> str:
            return f"take {push_take_to_nla(_armature(context)).name} is on its own NLA track"

        return run_and_report(self, push, (EditError,))


CLASSES = (VIDEOMOCAP_OT_reduce_keys, VIDEOMOCAP_OT_smooth_range, VIDEOMOCAP_OT_merge_take,
           VIDEOMOCAP_OT_take_to_nla)
