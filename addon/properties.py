"""Scene settings of a capture (``bpy.types.Scene.video_mocap``), saved in the .blend; registering
them also registers the armature bone map (``addon.retarget.props``).

Paths that belong to the machine (worker interpreter, model folders) are preferences
(``preferences.py``); everything that describes *this* shot lives here.
"""

from __future__ import annotations

import re

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)
from bpy.types import PropertyGroup

from .retarget.props import register_bone_map, unregister_bone_map

# Blender 5.0 warns about "//" paths unless a property declares it supports them (4.2 lacks the option)
PATH_OPTIONS: set[str] = {"PATH_SUPPORTS_BLEND_RELATIVE"} if bpy.app.version >= (5, 0, 0) else set()

BOX_PATTERN = re.compile(r"^\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*@\s*(\d+)\s*$")


class VIDEOMOCAP_PG_person_box(PropertyGroup):
    """A person the detectors missed: a box (pixels, top-left origin) on one source frame."""

    x0: FloatProperty(name="X0", min=0.0, description="Left edge, pixels")  # type: ignore[valid-type]
    y0: FloatProperty(name="Y0", min=0.0, description="Top edge, pixels")  # type: ignore[valid-type]
    x1: FloatProperty(name="X1", min=0.0, description="Right edge, pixels")  # type: ignore[valid-type]
    y1: FloatProperty(name="Y1", min=0.0, description="Bottom edge, pixels")  # type: ignore[valid-type]
    frame: IntProperty(name="Frame", min=0,  # type: ignore[valid-type]
                       description="Source frame number (0 = first frame of the footage)")


# Helpers are module functions, not PropertyGroup methods: bpy 4.2 crashes at exit after an
# extension whose PropertyGroup has Python methods is uninstalled.
def box_prompt(box: VIDEOMOCAP_PG_person_box) -> str:
    """``X0,Y0,X1,Y1@FRAME`` (pixels, source frame) as the worker's ``--person`` option takes it."""
    return f"{box.x0:g},{box.y0:g},{box.x1:g},{box.y1:g}@{box.frame}"


def box_problem(box: VIDEOMOCAP_PG_person_box) -> str:
    """Why this box cannot be used, or "" when it can."""
    if box.x1 <= box.x0 or box.y1 <= box.y0:
        return f"box {box_prompt(box)} is empty: X1 must exceed X0 and Y1 exceed Y0"
    return ""


def parse_box(text: str) -> tuple[float, float, float, float, int]:
    """Parse ``X0,Y0,X1,Y1@FRAME``; raises ValueError with a readable message."""
    match = BOX_PATTERN.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not X0,Y0,X1,Y1@FRAME (pixels, source frame)")
    x0, y0, x1, y1 = (float(match.group(k)) for k in range(1, 5))
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"{text!r}: X1 must exceed X0 and Y1 exceed Y0")
    return x0, y0, x1, y1, int(match.group(5))


class VIDEOMOCAP_PG_settings(PropertyGroup):
    """Capture settings of a scene."""

    footage_source: EnumProperty(  # type: ignore[valid-type]
        name="Footage", items=(("FILE", "File", "A video, an image or a folder of images on disk"),
                               ("CLIP", "Movie Clip", "A Movie Clip loaded in this .blend")),
        default="FILE")
    footage_path: StringProperty(name="Footage File", subtype="FILE_PATH", options=PATH_OPTIONS,  # type: ignore[valid-type]
                                 description="Video, image, or folder of images to capture")
    footage_clip: PointerProperty(name="Movie Clip", type=bpy.types.MovieClip,  # type: ignore[valid-type]
                                  description="Movie Clip whose file is captured")
    use_frame_range: BoolProperty(name="Frame Range", default=False,  # type: ignore[valid-type]
                                  description="Capture only part of the footage")
    frame_start: IntProperty(name="Start", min=0, default=0,  # type: ignore[valid-type]
                             description="First source frame (0 = first frame of the footage)")
    frame_end: IntProperty(name="End", min=0, default=100,  # type: ignore[valid-type]
                           description="Last source frame to capture")
    max_people: IntProperty(name="Max People", min=1, max=32, default=4,  # type: ignore[valid-type]
                            description="Most people tracked at once")
    use_hands: BoolProperty(name="Hands", default=True,  # type: ignore[valid-type]
                            description="Capture finger motion")
    use_face: BoolProperty(name="Face", default=True,  # type: ignore[valid-type]
                           description="Capture jaw and expression")
    hands_only: BoolProperty(name="Hands Only", default=False,  # type: ignore[valid-type]
                             description="Footage of hands alone, no body in view: find the hands (at most "
                                         "two) and fit MANO hands (needs MANO Models in the preferences)")
    mirrored: BoolProperty(name="Mirrored Footage", default=False,  # type: ignore[valid-type]
                           description="The footage is a mirror image (a selfie or webcam recording): it is "
                                       "flipped back before capture so that right hands are right hands, and "
                                       "the camera background is flipped to match")
    focal_mode: EnumProperty(  # type: ignore[valid-type]
        name="Focal", items=(("AUTO", "Auto", "Estimate the focal length from the footage"),
                             ("LENS", "Lens", "Known focal length in mm and sensor width"),
                             ("FOV", "Field of View", "Known horizontal field of view")),
        default="AUTO")
    focal_mm: FloatProperty(name="Focal Length", min=1.0, max=5000.0, default=35.0, unit="CAMERA",  # type: ignore[valid-type]
                            description="Focal length of the lens, mm")
    sensor_mm: FloatProperty(name="Sensor Width", min=1.0, max=200.0, default=36.0, unit="CAMERA",  # type: ignore[valid-type]
                             description="Sensor width, mm (36 for full frame)")
    fov_deg: FloatProperty(name="Field of View", min=1.0, max=179.0, default=55.0,  # type: ignore[valid-type]
                           description="Horizontal field of view, degrees")
    smoothing: FloatProperty(name="Smoothing", min=0.0, soft_max=3.0, default=1.0,  # type: ignore[valid-type]
                             description="Temporal smoothing strength (0 = none, 1 = the worker's default)")
    boxes: CollectionProperty(type=VIDEOMOCAP_PG_person_box, name="Missed People")  # type: ignore[valid-type]
    active_box: IntProperty(name="Active Box", default=0)  # type: ignore[valid-type]
    motion_path: StringProperty(name="Motion File", subtype="FILE_PATH", options=PATH_OPTIONS,  # type: ignore[valid-type]
                                description="Motion file (.npz) to apply")
    last_take: StringProperty(name="Last Take", default="", subtype="FILE_PATH", options=PATH_OPTIONS,  # type: ignore[valid-type]
                              description="Motion file of the last capture")


def footage_file(settings: VIDEOMOCAP_PG_settings) -> str:
    """Absolute path of the footage chosen in ``settings`` ("" when none is chosen)."""
    if settings.footage_source == "CLIP":
        clip = settings.footage_clip
        return bpy.path.abspath(clip.filepath, library=clip.library) if clip is not None else ""
    return bpy.path.abspath(settings.footage_path) if settings.footage_path else ""


CLASSES = (VIDEOMOCAP_PG_person_box, VIDEOMOCAP_PG_settings)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.video_mocap = PointerProperty(type=VIDEOMOCAP_PG_settings)
    register_bone_map()


def unregister() -> None:
    unregister_bone_map()
    del bpy.types.Scene.video_mocap
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
