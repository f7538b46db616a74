"""Headless Blender side: ``python -m addon.cli animate motion.npz --blend out.blend
[--footage INPUT] [--render preview.png]`` (run with Blender's Python / the bpy wheel).

``animate`` applies the motion file to an empty scene exactly as the Apply button does
(rigs, keys, camera, footage background), saves the .blend, and optionally renders a
preview with Workbench: the footage frame and the avatars seen from the capture camera,
side by side (left: footage, right: avatars over the footage).

Exit codes: 0 ok, 2 bad input (motion file, footage), 4 cannot write output.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m addon.cli", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    animate = sub.add_parser("animate", help="apply a motion file and save a .blend (optionally render)")
    animate.add_argument("motion", help="motion file (.npz, video-mocap-motion/1)")
    animate.add_argument("--blend", required=True, help="output .blend")
    animate.add_argument("--footage", help="footage for the camera background (default: the file's source)")
    animate.add_argument("--render", help="preview PNG: footage and avatars side by side")
    animate.add_argument("--frame", type=int, help="scene frame to render (default: the middle of the take)")
    animate.add_argument("--sensor-mm", type=float, default=36.0, help="camera sensor width, mm (default 36)")
    return parser


def render_preview(scene, path: str, frame: int, footage_clip) -> None:  # noqa: ANN001 - bpy types
    """Render ``frame`` from the scene camera with Workbench and write a side-by-side PNG
    (footage | avatars over footage). Without footage, only the avatars are written."""
    import bpy
    import numpy as np

    scene.frame_set(frame)
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "OBJECT"
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    for obj in scene.objects:
        if obj.type == "MESH":
            obj.color = (0.85, 0.55, 0.3, 1.0)
    with tempfile.TemporaryDirectory() as tmp:
        avatars_png = os.path.join(tmp, "avatars.png")
        scene.render.filepath = avatars_png
        bpy.ops.render.render(write_still=True)
        render = bpy.data.images.load(avatars_png)
        width, height = render.size
        over = np.empty(width * height * 4, dtype=np.float32)
        render.pixels.foreach_get(over)
        over = over.reshape(height, width, 4)
        bpy.data.images.remove(render)
        background = _footage_frame(footage_clip, frame, width, height, tmp)
        if background is None:
            out = over
        else:
            alpha = over[..., 3:4]
            composite = over[..., :3] * alpha + background[..., :3] * (1.0 - alpha)
            out = np.concatenate([background[..., :3], composite], axis=1)
            out = np.concatenate([out, np.ones(out.shape[:2] + (1,), np.float32)], axis=-1)
        image = bpy.data.images.new("video_mocap_preview", out.shape[1], out.shape[0], alpha=True)
        image.pixels.foreach_set(out.ravel())
        image.filepath_raw = path
        image.file_format = "PNG"
        image.save()
        bpy.data.images.remove(image)


def _footage_frame(clip, frame: int, width: int, height: int, tmp: str):  # noqa: ANN001
    """(H,W,4) float RGBA of the footage at scene ``frame``, or None without footage."""
    if clip is None:
        return None
    import bpy
    import numpy as np

    # a second scene renders the clip through the sequencer: the footage frame as Blender decodes it
    scene = bpy.data.scenes.new("video_mocap_footage")
    try:
        scene.render.resolution_x, scene.render.resolution_y = width, height
        scene.render.resolution_percentage = 100
        editor = scene.sequence_editor_create()
        strips = editor.strips if hasattr(editor, "strips") else editor.sequences
        path = bpy.path.abspath(clip.filepath)
        if clip.source == "MOVIE":
            strip = strips.new_movie("footage", path, channel=1, frame_start=1)
        else:  # a still image or an image sequence: hold the image over the whole take
            strip = strips.new_image("footage", path, channel=1, frame_start=1)
            strip.frame_final_end = max(frame + 1, strip.frame_final_end)
        for target in (scene, bpy.context.scene):
            target.view_settings.view_transform = "Standard"
        scene.frame_start = scene.frame_end = frame
        scene.frame_set(frame)
        scene.render.image_settings.file_format = "PNG"
        scene.render.image_settings.color_mode = "RGBA"
        scene.render.filepath = os.path.join(tmp, "footage.png")
        with bpy.context.temp_override(scene=scene):
            bpy.ops.render.render(write_still=True, scene=scene.name)
        image = bpy.data.images.load(scene.render.filepath)
        pixels = np.empty(width * height * 4, dtype=np.float32)
        image.pixels.foreach_get(pixels)
        bpy.data.images.remove(image)
        return pixels.reshape(height, width, 4)
    finally:
        bpy.data.scenes.remove(scene)


def animate(args: argparse.Namespace) -> int:
    if not os.environ.get("BLENDER_USER_RESOURCES") and "bpy" not in sys.modules:
        os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="video_mocap_cli_")
    import bpy

    from .motion_file import MotionFileError, load_motion
    from .operators.apply import ApplyError, apply_motion

    if args.footage and not os.path.isfile(args.footage):
        print(f"error: footage not found: {args.footage}", file=sys.stderr)
        return 2
    try:
        motion = load_motion(args.motion)
    except MotionFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    name = os.path.splitext(os.path.basename(args.motion))[0]
    try:
        take = apply_motion(bpy.context, motion, name=name, footage=os.path.abspath(args.footage) if args.footage
                            else None, motion_path=os.path.abspath(args.motion), sensor_width_mm=args.sensor_mm)
    except ApplyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"applied {len(take.avatars)} avatar(s), frames {take.frame_range[0]}-{take.frame_range[1]}, "
          f"{take.lens_note} on a {take.camera.data.sensor_width:.0f} mm sensor")
    blend = os.path.abspath(args.blend)
    try:
        os.makedirs(os.path.dirname(blend), exist_ok=True)
        partial = blend + ".partial.blend"
        bpy.ops.wm.save_as_mainfile(filepath=partial, check_existing=False, copy=True)
        os.replace(partial, blend)
    except (OSError, RuntimeError) as exc:
        print(f"error: cannot write {blend}: {exc}", file=sys.stderr)
        return 4
    print(f"saved {blend}")
    if args.render:
        frame = args.frame if args.frame is not None else (take.frame_range[0] + take.frame_range[1]) // 2
        path = os.path.abspath(args.render)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            render_preview(scene, path, frame, take.clip)
        except (OSError, RuntimeError) as exc:
            print(f"error: cannot render {path}: {exc}", file=sys.stderr)
            return 4
        print(f"rendered {path} (frame {frame})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "animate":
        return animate(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
