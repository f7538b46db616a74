"""Side-by-side Workbench renders of a source and a retargeted armature (visual check).

Armatures do not render, so each bone gets a stick (a thin box between its head and
tail, parented to the bone) in a temporary collection; the sticks, camera and light are
removed afterwards and render settings restored.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import bpy
import numpy as np
from mathutils import Matrix, Vector


def _stick_mesh(name: str, length: float, radius: float) -> bpy.types.Mesh:
    r, l = radius, length
    verts = [(-r, 0, -r), (r, 0, -r), (r, 0, r), (-r, 0, r), (-r, l, -r), (r, l, -r), (r, l, r), (-r, l, r)]
    faces = [(0, 1, 2, 3), (4, 7, 6, 5), (0, 4, 5, 1), (1, 5, 6, 2), (2, 6, 7, 3), (3, 7, 4, 0)]
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    return mesh


def _add_sticks(armature: bpy.types.Object, collection: bpy.types.Collection, color: Sequence[float],
                bones: Sequence[str] | None = None) -> list[bpy.types.Object]:
    material = bpy.data.materials.new(f"{armature.name}_preview")
    material.diffuse_color = (*color, 1.0)
    objects = []
    scale = max(armature.matrix_world.to_scale())
    for bone in armature.data.bones:
        if bones is not None and bone.name not in bones:
            continue
        mesh = _stick_mesh(f"stick_{bone.name}", bone.length, 0.012 / scale)
        mesh.materials.append(material)
        obj = bpy.data.objects.new(f"stick_{armature.name}_{bone.name}", mesh)
        collection.objects.link(obj)
        obj.parent, obj.parent_type, obj.parent_bone = armature, "BONE", bone.name
        # bone-parented children sit at the bone's tail: move back to the head
        obj.matrix_parent_inverse = Matrix.Translation((0.0, -bone.length, 0.0))
        objects.append(obj)
    return objects


def render_side_by_side(context: bpy.types.Context, source: bpy.types.Object, target: bpy.types.Object,
                        frame: int, path: str, *, resolution: tuple[int, int] = (640, 360),
                        target_bones: Sequence[str] | None = None) -> str:
    """Render the two armatures (source blue, target orange) at ``frame`` into a PNG.

    The camera looks from the front (-Y) at both figures' bounding box. ``target_bones``
    limits the target's sticks (e.g. Rigify's DEF- bones). Returns ``path``.
    """
    scene = context.scene
    saved = (scene.camera, scene.render.engine, scene.render.resolution_x, scene.render.resolution_y,
             scene.render.filepath, scene.frame_current, scene.render.image_settings.file_format)
    collection = bpy.data.collections.new("video_mocap_preview")
    scene.collection.children.link(collection)
    created: list[bpy.types.ID] = []
    try:
        sticks = _add_sticks(source, collection, (0.2, 0.45, 0.9)) + \
            _add_sticks(target, collection, (0.95, 0.55, 0.15), target_bones)
        scene.frame_set(frame)
        context.view_layer.update()
        corners = np.array([list(o.matrix_world @ Vector(c)) for o in sticks for c in o.bound_box])
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        centre, size = (lo + hi) / 2, hi - lo
        cam_data = bpy.data.cameras.new("preview_camera")
        cam_data.type = "ORTHO"
        cam_data.ortho_scale = 1.15 * max(size[0] * resolution[1] / resolution[0], size[2]) * resolution[0] / resolution[1]
        cam = bpy.data.objects.new("preview_camera", cam_data)
        collection.objects.link(cam)
        cam.matrix_world = Matrix.Translation((centre[0], lo[1] - 5.0, centre[2])) @ Matrix.Rotation(np.pi / 2, 4, "X")
        created += [cam_data]
        scene.camera = cam
        scene.render.engine = "BLENDER_WORKBENCH"
        scene.display.shading.light = "STUDIO"
        scene.display.shading.color_type = "MATERIAL"
        scene.render.resolution_x, scene.render.resolution_y = resolution
        scene.render.resolution_percentage = 100
        scene.render.image_settings.file_format = "PNG"
        scene.render.filepath = os.path.abspath(path)
        bpy.ops.render.render(write_still=True)
    finally:
        for obj in list(collection.objects):
            data = obj.data
            bpy.data.objects.remove(obj)
            if isinstance(data, bpy.types.Mesh):
                bpy.data.meshes.remove(data)
        for data in created:
            if isinstance(data, bpy.types.Camera):
                bpy.data.cameras.remove(data)
        for mat in [m for m in bpy.data.materials if m.name.endswith("_preview") and m.users == 0]:
            bpy.data.materials.remove(mat)
        bpy.data.collections.remove(collection)
        (scene.camera, scene.render.engine, scene.render.resolution_x, scene.render.resolution_y,
         scene.render.filepath, frame_current, scene.render.image_settings.file_format) = saved
        scene.frame_set(frame_current)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m addon.retarget.preview SCENE.blend SOURCE TARGET FRAME OUT.png`` (bpy module
    or Blender's Python): render a saved scene's source and retargeted armatures side by side."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m addon.retarget.preview", description=main.__doc__)
    parser.add_argument("blend", help=".blend file holding both armatures")
    parser.add_argument("source", help="the captured SMPL-X armature object")
    parser.add_argument("target", help="the retargeted armature object")
    parser.add_argument("frame", type=int)
    parser.add_argument("output", help="PNG to write")
    parser.add_argument("--size", type=int, nargs=2, default=(640, 360), metavar=("W", "H"))
    args = parser.parse_args(argv)
    if not os.path.isfile(args.blend):
        parser.error(f"{args.blend} does not exist")
    bpy.ops.wm.open_mainfile(filepath=args.blend)
    objects = bpy.data.objects
    for name in (args.source, args.target):
        if name not in objects or objects[name].type != "ARMATURE":
            parser.error(f"{name} is not an armature in {args.blend}")
    render_side_by_side(bpy.context, objects[args.source], objects[args.target], args.frame, args.output,
                        resolution=tuple(args.size))
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
