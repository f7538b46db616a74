"""The bone mapping saved on the target armature (``Armature.video_mocap_bone_map``),
its UI list and the Retarget sidebar panel."""

from __future__ import annotations

import bpy
from bpy.props import CollectionProperty, IntProperty, StringProperty
from bpy.types import Panel, PropertyGroup, UIList


class VIDEOMOCAP_PG_bone_pair(PropertyGroup):
    """One row: an SMPL-X joint and the target bone that follows it ("" = unmapped)."""

    joint: StringProperty(name="SMPL-X joint")  # type: ignore[valid-type]
    bone: StringProperty(name="Target bone")  # type: ignore[valid-type]


# Module functions, not classmethods: bpy 4.2 crashes at exit after an extension whose
# PropertyGroup has Python methods is uninstalled. addon/properties.py calls these.
def register_bone_map() -> None:
    """Register the row type and attach the bone map to ``bpy.types.Armature``."""
    bpy.utils.register_class(VIDEOMOCAP_PG_bone_pair)
    bpy.types.Armature.video_mocap_bone_map = CollectionProperty(type=VIDEOMOCAP_PG_bone_pair, name="Bone map")
    bpy.types.Armature.video_mocap_bone_map_index = IntProperty(name="Active row")


def unregister_bone_map() -> None:
    del bpy.types.Armature.video_mocap_bone_map_index
    del bpy.types.Armature.video_mocap_bone_map
    bpy.utils.unregister_class(VIDEOMOCAP_PG_bone_pair)


class VIDEOMOCAP_UL_bone_map(UIList):
    """SMPL-X joint -> target bone rows (the bone is editable)."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):  # noqa: ANN001
        row = layout.row(align=True)
        row.label(text=item.joint)
        row.prop_search(item, "bone", data, "bones", text="")


class VIDEOMOCAP_PT_retarget(Panel):
    bl_label = "Retarget"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Mocap"  # the add-on's one sidebar tab
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        obj = context.active_object
        layout.operator("video_mocap.retarget_map", text="Fill bone map")
        layout.operator("video_mocap.retarget", text="Retarget to selected")
        targets = [o for o in context.selected_objects if o.type == "ARMATURE" and o != obj]
        target = targets[0] if targets else (obj if obj and obj.type == "ARMATURE" else None)
        if target is not None and len(target.data.video_mocap_bone_map):
            layout.label(text=f"Bone map of {target.name}")
            layout.template_list("VIDEOMOCAP_UL_bone_map", "", target.data, "video_mocap_bone_map",
                                 target.data, "video_mocap_bone_map_index", rows=6)
        col = layout.column(align=True)
        col.operator("video_mocap.reduce_keys")
        col.operator("video_mocap.smooth_range")
        col.operator("video_mocap.merge_take")
        col.operator("video_mocap.take_to_nla")
        col = layout.column(align=True)
        col.operator("video_mocap.export_animation")
        col.operator("video_mocap.export_amass")


def stored_mapping(armature: bpy.types.Armature) -> dict[str, str]:
    """SMPL-X joint -> bone saved on the armature data."""
    return {row.joint: row.bone for row in armature.video_mocap_bone_map if row.bone}


def store_mapping(armature: bpy.types.Armature, mapping: dict[str, str]) -> None:
    """Save a mapping on the armature data (one row per SMPL-X joint, unmapped rows kept)."""
    from .smplx_names import SMPLX_JOINT_NAMES

    rows = armature.video_mocap_bone_map
    rows.clear()
    for joint in SMPLX_JOINT_NAMES:
        row = rows.add()
        row.joint = joint
        row.bone = mapping.get(joint, "")


CLASSES = (VIDEOMOCAP_UL_bone_map, VIDEOMOCAP_PT_retarget)
"""UI classes (the operators module registers them); the row type is registered by register_bone_map."""
