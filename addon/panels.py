"""3D Viewport sidebar, tab "Mocap": footage, capture options, missed-person boxes,
Capture / Cancel with live progress and the last error, and Apply."""

from __future__ import annotations

import bpy
from bpy.types import Context, Panel, UIList

from .operators import capture
from .properties import box_problem, box_prompt

CATEGORY = "Mocap"


class VIDEOMOCAP_UL_boxes(UIList):
    """Missed people: one box prompt per row."""

    bl_idname = "VIDEOMOCAP_UL_boxes"

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index=0):  # noqa: D102
        row = layout.row(align=True)
        row.label(text=box_prompt(item), icon="ERROR" if box_problem(item) else "USER")


class _MocapPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY


class VIDEOMOCAP_PT_capture(_MocapPanel, Panel):
    bl_idname = "VIDEOMOCAP_PT_capture"
    bl_label = "Video Mocap"

    def draw(self, context: Context) -> None:
        settings = context.scene.video_mocap
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False

        layout.prop(settings, "footage_source", expand=True)
        if settings.footage_source == "FILE":
            layout.prop(settings, "footage_path", text="File")
        else:
            layout.template_ID(settings, "footage_clip", open="clip.open")
        layout.prop(settings, "mirrored")

        col = layout.column(heading="Frames")
        col.prop(settings, "use_frame_range", text="Range")
        sub = col.column(align=True)
        sub.active = settings.use_frame_range
        sub.prop(settings, "frame_start", text="First")
        sub.prop(settings, "frame_end", text="Last")

        row = layout.row()
        row.active = not settings.hands_only
        row.prop(settings, "max_people")
        col = layout.column(heading="Capture")
        sub = col.column()
        sub.active = not settings.hands_only
        sub.prop(settings, "use_hands")
        sub.prop(settings, "use_face")
        col.prop(settings, "hands_only")
        layout.prop(settings, "focal_mode")
        if settings.focal_mode == "LENS":
            layout.prop(settings, "focal_mm")
            layout.prop(settings, "sensor_mm")
        elif settings.focal_mode == "FOV":
            layout.prop(settings, "fov_deg")
        layout.prop(settings, "smoothing")

        job = capture.ACTIVE_JOB
        running = job is not None and not job.finished
        if running:
            status = job.status
            box = layout.box()
            box.label(text=status.text(), icon="SORTTIME")
            fraction = status.fraction
            if fraction is not None and hasattr(box, "progress"):
                box.progress(factor=fraction, type="BAR", text=f"{status.stage} {int(fraction * 100)}%")
            box.operator("video_mocap.cancel_capture", icon="CANCEL")
        else:
            row = layout.row()
            row.scale_y = 1.4
            row.operator("video_mocap.capture", icon="REC")
            last = capture.LAST_STATUS
            if last is not None and last.state == "failed":
                box = layout.box()
                box.alert = True
                for i, line in enumerate(last.error.splitlines()[:6] or [""]):
                    box.label(text=line, icon="ERROR" if i == 0 else "BLANK1")


class VIDEOMOCAP_PT_boxes(_MocapPanel, Panel):
    bl_idname = "VIDEOMOCAP_PT_boxes"
    bl_label = "Missed People"
    bl_parent_id = "VIDEOMOCAP_PT_capture"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: Context) -> None:
        settings = context.scene.video_mocap
        layout = self.layout
        layout.label(text="Box around a person on one frame (pixels)")
        row = layout.row()
        row.template_list(VIDEOMOCAP_UL_boxes.bl_idname, "", settings, "boxes", settings, "active_box", rows=2)
        col = row.column(align=True)
        col.operator("video_mocap.box_add", icon="ADD", text="")
        col.operator("video_mocap.box_remove", icon="REMOVE", text="")
        if settings.boxes and 0 <= settings.active_box < len(settings.boxes):
            item = settings.boxes[settings.active_box]
            col = layout.column(align=True)
            row = col.row(align=True)
            row.prop(item, "x0")
            row.prop(item, "y0")
            row = col.row(align=True)
            row.prop(item, "x1")
            row.prop(item, "y1")
            col.prop(item, "frame")
            if box_problem(item):
                layout.label(text=box_problem(item), icon="ERROR")


class VIDEOMOCAP_PT_apply(_MocapPanel, Panel):
    bl_idname = "VIDEOMOCAP_PT_apply"
    bl_label = "Apply Motion File"
    bl_parent_id = "VIDEOMOCAP_PT_capture"

    def draw(self, context: Context) -> None:
        settings = context.scene.video_mocap
        layout = self.layout
        layout.prop(settings, "motion_path", text="")
        op = layout.operator("video_mocap.apply", icon="ARMATURE_DATA")
        op.filepath = settings.motion_path
        if settings.last_take:
            layout.label(text=f"Last take: {bpy.path.basename(settings.last_take)}", icon="FILE")


CLASSES = (VIDEOMOCAP_UL_boxes, VIDEOMOCAP_PT_capture, VIDEOMOCAP_PT_boxes, VIDEOMOCAP_PT_apply)

register, unregister = bpy.utils.register_classes_factory(CLASSES)  # in order; unregistered in reverse
