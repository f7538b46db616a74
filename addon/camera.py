"""THE camera-frame -> Blender conversion, the Blender camera, and the footage background.

The motion file's camera frame is OpenCV's: metres, x right, y down, z forward. Blender's
world is Z-up. :func:`camera_to_blender` is the one place where one becomes the other;
avatars (their root transforms) and the camera object both go through it:

    world x = camera x,   world y = camera z (the camera looks along +Y),   world z = -camera y

so the capture camera sits at the world origin looking along +Y with +Z up, and
people stand on their feet in the Blender world.

Blender's camera object looks down its own -Z with +Y up; OpenCV's camera looks down +Z
with +Y down. :data:`OPENCV_TO_BLENDER_CAMERA_AXES` is that local axis flip.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import bpy
import numpy as np

CAMERA_TO_BLENDER: np.ndarray = np.array([[1.0, 0.0, 0.0],
                                          [0.0, 0.0, 1.0],
                                          [0.0, -1.0, 0.0]])
"""(3,3) rotation taking camera-frame (OpenCV) vectors to Blender world vectors."""

OPENCV_TO_BLENDER_CAMERA_AXES: np.ndarray = np.diag([1.0, -1.0, -1.0, 1.0])
"""(4,4) local axes of an OpenCV camera expressed in a Blender camera's local axes (and back)."""

DEFAULT_SENSOR_WIDTH_MM = 36.0


def camera_to_blender(matrices: np.ndarray) -> np.ndarray:
    """Rigid transforms in the camera frame (OpenCV) -> the same transforms in Blender's world.

    Args:
        matrices: (..., 4, 4) float transforms whose results are camera-frame points
            (e.g. a joint's global transform from forward kinematics), metres.

    Returns:
        (..., 4, 4) float64 transforms whose results are Blender world points.
    """
    out = np.array(matrices, dtype=np.float64, copy=True)
    out[..., :3, :] = np.einsum("ij,...jk->...ik", CAMERA_TO_BLENDER, out[..., :3, :])
    return out


def blender_to_camera(matrices: np.ndarray) -> np.ndarray:
    """Inverse of :func:`camera_to_blender`: (..., 4, 4) world transforms -> camera frame."""
    out = np.array(matrices, dtype=np.float64, copy=True)
    out[..., :3, :] = np.einsum("ji,...jk->...ik", CAMERA_TO_BLENDER, out[..., :3, :])
    return out


def camera_object_matrix() -> np.ndarray:
    """(4,4) world matrix of the Blender camera that sees what the capture camera saw."""
    return camera_to_blender(np.eye(4)) @ OPENCV_TO_BLENDER_CAMERA_AXES


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera of the footage.

    Attributes:
        focal_px: (fx, fy) pixels.
        center_px: (cx, cy) pixels, origin top-left.
        image_size: (W, H) pixels.
        fps: frames per second of the footage (not of the motion rows).
    """

    focal_px: tuple[float, float]
    center_px: tuple[float, float]
    image_size: tuple[int, int]
    fps: float


def lens_mm(focal_px: float, width_px: int, sensor_width_mm: float = DEFAULT_SENSOR_WIDTH_MM) -> float:
    """Focal length in mm on a sensor ``sensor_width_mm`` wide (horizontal fit)."""
    return float(focal_px) * sensor_width_mm / float(width_px)


def focal_px_from_mm(lens: float, width_px: int, sensor_width_mm: float) -> float:
    """Inverse of :func:`lens_mm`."""
    return float(lens) * float(width_px) / sensor_width_mm


def focal_px_from_fov(fov_deg: float, width_px: int) -> float:
    """Focal length in px from the horizontal field of view in degrees."""
    return 0.5 * width_px / math.tan(math.radians(fov_deg) / 2.0)


def lens_note(focal_px: float, std_px: float, source: str, width_px: int,
              sensor_width_mm: float = DEFAULT_SENSOR_WIDTH_MM) -> str:
    """How sure the camera's lens is, for the user: the lens in mm on ``sensor_width_mm``, and
    where it came from (``source`` of the motion file: ``user``, ``estimated`` from perspective
    with its 1-sigma ``std_px`` px, ``metadata``: the footage's own lens metadata (refined by
    perspective: the people's in body captures, the scene's lines where they show), or ``prior``:
    assumed, perspective said little)."""
    lens = lens_mm(focal_px, width_px, sensor_width_mm)
    if source == "user":
        return f"camera {lens:.1f} mm (the lens you gave)"
    std = lens_mm(std_px, width_px, sensor_width_mm)
    if source == "metadata":
        return f"camera {lens:.1f} mm +-{std:.0f} mm (from the footage's lens metadata)"
    if source == "prior":
        return (f"camera {lens:.1f} mm +-{std:.0f} mm (assumed: the footage showed too little "
                "perspective; give the lens if you know it)")
    return f"camera {lens:.1f} mm +-{std:.0f} mm (estimated from perspective; give the lens if you know it)"


def fps_to_blender(fps: float) -> tuple[int, float]:
    """Blender's (render.fps, render.fps_base) for a frame rate, e.g. 29.97 -> (30, 1.001)."""
    base_fps = max(1, int(round(fps)))
    return base_fps, base_fps / float(fps)


def build_camera(name: str, collection: bpy.types.Collection, intr: Intrinsics, *,
                 sensor_width_mm: float = DEFAULT_SENSOR_WIDTH_MM,
                 clip: bpy.types.MovieClip | None = None, mirrored: bool = False) -> bpy.types.Object:
    """A camera object matching the footage's camera, linked into ``collection``.

    Focal length: ``fx`` px on a ``sensor_width_mm`` wide sensor (sensor_fit HORIZONTAL);
    the principal point becomes the lens shift. The scene's resolution and frame rate are
    set by :func:`apply_render_settings`. ``clip`` (the footage) becomes the camera's
    background image, flipped left to right when ``mirrored`` (footage captured with
    ``--mirrored``: the camera sees the flipped picture).
    """
    width, height = int(intr.image_size[0]), int(intr.image_size[1])
    data = bpy.data.cameras.new(name)
    data.sensor_fit = "HORIZONTAL"
    data.sensor_width = sensor_width_mm
    data.sensor_height = sensor_width_mm * height / width
    data.lens = lens_mm(intr.focal_px[0], width, sensor_width_mm)
    # lens shift is measured in units of the fitted sensor side: the width here
    data.shift_x = (width / 2.0 - float(intr.center_px[0])) / width
    data.shift_y = (float(intr.center_px[1]) - height / 2.0) / width
    data.clip_start = 0.05
    data.clip_end = 1000.0
    obj = bpy.data.objects.new(name, data)
    obj.matrix_world = camera_object_matrix().T.tolist()
    collection.objects.link(obj)
    if clip is not None:
        set_background(obj, clip, mirrored)
    return obj


def apply_render_settings(scene: bpy.types.Scene, intr: Intrinsics) -> None:
    """Resolution (W x H at 100 %, square pixels) and frame rate of the footage."""
    scene.render.resolution_x = int(intr.image_size[0])
    scene.render.resolution_y = int(intr.image_size[1])
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = 1.0
    scene.render.pixel_aspect_y = 1.0
    scene.render.fps, scene.render.fps_base = fps_to_blender(intr.fps)


def load_clip(path: str) -> bpy.types.MovieClip:
    """The footage as a Movie Clip (an existing clip of the same file is reused).

    Raises:
        FileNotFoundError: the file does not exist.
        RuntimeError: Blender cannot read it as a movie or image sequence.
    """
    full = os.path.abspath(bpy.path.abspath(path))
    if not os.path.isfile(full):
        raise FileNotFoundError(f"footage not found: {path}")
    for clip in bpy.data.movieclips:
        if os.path.abspath(bpy.path.abspath(clip.filepath)) == full:
            return clip
    clip = bpy.data.movieclips.load(full)
    clip.frame_start = 1
    return clip


def set_background(camera_obj: bpy.types.Object, clip: bpy.types.MovieClip, mirrored: bool = False) -> None:
    """Show ``clip`` behind the scene in this camera's view (source frame 0 at scene frame 1),
    flipped left to right when ``mirrored``."""
    data = camera_obj.data
    data.show_background_images = True
    for bg in list(data.background_images):
        data.background_images.remove(bg)
    bg = data.background_images.new()
    bg.source = "MOVIE_CLIP"
    bg.clip = clip
    bg.use_camera_clip = False
    bg.alpha = 1.0
    bg.display_depth = "BACK"
    bg.frame_method = "FIT"
    bg.use_flip_x = bool(mirrored)
    clip.frame_start = 1
