"""``video_mocap.retarget_map`` (fill the target's bone map) and ``video_mocap.retarget``
(bake the active SMPL-X armature's motion onto the selected armature)."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty

from ..progress import progress_bar
from ..retarget import mapping as mapping_mod
from ..retarget.props import CLASSES as PROP_CLASSES
from ..retarget.props import store_mapping, stored_mapping
from ..retarget.transfer import RetargetError, bake_retarget
from .reporting import run_and_report

PRESET_ITEMS = [("AUTO", "Automatic", "Detect a preset, else match bone names"),
                ("NAMES", "Match names", "Match bone names (case, sides, synonyms)")] + [
    (key, mod.LABEL, f"{mod.LABEL} bone names") for key, mod in mapping_mod.PRESETS.items()]


def _source_and_target(context: bpy.types.Context) -> tuple[bpy.types.Object, bpy.types.Object]:
    source = context.active_object
    if source is None or source.type != "ARMATURE":
        raise RetargetError("make the captured SMPL-X armature active (click it last)")
    targets = [o for o in context.selected_objects if o.type == "ARMATURE" and o != source]
    if len(targets) != 1:
        raise RetargetError("select exactly one target armature besides the active SMPL-X armature")
    return source, targets[0]


def _parents(obj: bpy.types.Object) -> dict[str, str | None]:
    return {b.name: (b.parent.name if b.parent else None) for b in obj.data.bones}


class VIDEOMOCAP_OT_retarget_map(bpy.types.Operator):
    """Fill the selected armature's bone map from a preset or by matching names"""

    bl_idname = "video_mocap.retarget_map"
    bl_label = "Fill Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    preset: EnumProperty(name="Preset", items=PRESET_ITEMS, default="AUTO")  # type: ignore[valid-type]

    def execute(self, context: bpy.types.Context) -> set[str]:
        obj = context.active_object
        targets = [o for o in context.selected_objects if o.type == "ARMATURE" and o != obj]
        target = targets[0] if targets else obj
        if target is None or target.type != "ARMATURE":
            self.report({"ERROR"}, "select the target armature")
            return {"CANCELLED"}
        found = mapping_mod.build_mapping(_parents(target), self.preset,
                                          {b.name: b.use_deform for b in target.data.bones})
        store_mapping(target.data, found)
        self.report({"INFO"}, f"{len(found)} of 55 SMPL-X joints mapped on {target.name}")
        return {"FINISHED"}


class VIDEOMOCAP_OT_retarget(bpy.types.Operator):
    """Bake the active SMPL-X armature's motion onto the selected armature (world-space rotations)"""

    bl_idname = "video_mocap.retarget"
    bl_label = "Retarget"
    bl_options = {"REGISTER", "UNDO"}

    root_motion: BoolProperty(name="Root motion", default=True)  # type: ignore[valid-type]
    feet_ik: BoolProperty(name="Keep feet planted", default=True,  # type: ignore[valid-type]
                          description="Bend the target's legs so its ankles follow the source's")

    def execute(self, context: bpy.types.Context) -> set[str]:
        def retarget() -> str:
            source, target = _source_and_target(context)
            mapping = stored_mapping(target.data)
            preset = mapping_mod.detect_preset(_parents(target))
            if not mapping:
                mapping = mapping_mod.build_mapping(_parents(target), "AUTO",
                                                    {b.name: b.use_deform for b in target.data.bones})
                store_mapping(target.data, mapping)
            rows = mapping_mod.check_mapping(mapping, _parents(target), mapping_mod.source_joints(_parents(source)))
            action = source.animation_data.action if source.animation_data else None
            if action is None:
                raise RetargetError(f"{source.name} has no animation to retarget")
            start, end = (int(round(x)) for x in action.frame_range)
            settings = getattr(mapping_mod.PRESETS.get(preset), "SETTINGS", None) if preset else None
            with progress_bar(context.window_manager, 2 * (end - start + 1)) as bar:
                result = bake_retarget(context, source, target, rows, range(start, end + 1), settings=settings,
                                       action_name=f"{action.name}_{target.name}", root_motion=self.root_motion,
                                       feet_ik=self.feet_ik, progress=lambda d, _t: bar.update(d))
            return (f"retargeted {len(result.frames)} frames onto {len(result.bones)} bones of "
                    f"{target.name} in {result.seconds:.1f} s (root motion x{result.scale:.2f})")

        return run_and_report(self, retarget, (RetargetError, mapping_mod.MappingError))


CLASSES = (*PROP_CLASSES, VIDEOMOCAP_OT_retarget_map, VIDEOMOCAP_OT_retarget)
