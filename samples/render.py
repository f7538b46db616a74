"""bpy side of the samples: render a posed job with Workbench.

Runs in the Blender environment (bpy, numpy<2), started by :mod:`samples.generate`::

    .venv/blender/bin/python -m samples.render JOB.npz OUT_DIR

JOB.npz (written by the worker, everything in the OpenCV camera frame, metres):

* ``width``, ``height`` (int), ``focal_mm``, ``sensor_mm`` (float), ``frames`` (int T),
  ``background`` (3,) linear RGB, ``num_figures`` (int P);
* ``fig{i}/vertices`` (T,V,3) float32, ``fig{i}/faces`` (F,3) int32, ``fig{i}/material``
  (F,) int32 (palette slot per triangle), ``fig{i}/palette`` (M,3) linear RGB,
  ``fig{i}/id_colour`` (3,) 0/1 values;
* ``floor/vertices`` (N,3), ``floor/faces``, ``floor/material``, ``floor/palette``.

Writes ``OUT_DIR/frames/%04d.png`` (studio-lit, anti-aliased, the footage) and
``OUT_DIR/mask/%04d.png`` (flat, unlit, no anti-aliasing, no floor: pixel colour =
the figure's ``id_colour``, black background). Progress goes to stdout as JSON
lines ``{"event": "progress", "stage": "render"|"mask", "current": k, "total": T}``.

The camera sits at the origin of Blender's world with identity rotation, so an
OpenCV camera point (x, y, z) is the Blender point (x, -y, -z).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

CV_TO_BLENDER = np.array([1.0, -1.0, -1.0], dtype=np.float32)


def _progress(stage: str, current: int, total: int) -> None:
    event = {"event": "progress", "stage": stage, "current": current, "total": total}
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _mesh_object(bpy, name: str, vertices: np.ndarray, faces: np.ndarray, material: np.ndarray,
                 palette: np.ndarray, smooth: bool):
    """A mesh object with one material per palette entry (Workbench MATERIAL colour)."""
    me = bpy.data.meshes.new(name)
    me.vertices.add(len(vertices))
    me.vertices.foreach_set("co", (vertices * CV_TO_BLENDER).astype(np.float32).ravel())
    me.loops.add(faces.size)
    me.loops.foreach_set("vertex_index", faces.astype(np.int32).ravel())
    me.polygons.add(len(faces))
    me.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
    me.polygons.foreach_set("material_index", material.astype(np.int32))
    me.polygons.foreach_set("use_smooth", np.full(len(faces), smooth, dtype=bool))
    me.update(calc_edges=True)
    for k, rgb in enumerate(palette):
        mat = bpy.data.materials.new(f"{name}_{k}")
        mat.diffuse_color = (*map(float, rgb), 1.0)
        me.materials.append(mat)
    ob = bpy.data.objects.new(name, me)
    bpy.context.scene.collection.objects.link(ob)
    return ob


def render(job_path: Path, out_dir: Path) -> None:
    """Render every frame of the job twice (footage, then id mask)."""
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="samples-bpy-"))
    import bpy

    job = np.load(job_path, allow_pickle=False)
    width, height, frames = int(job["width"]), int(job["height"]), int(job["frames"])
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.dither_intensity = 0.0
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.compression = 15
    scene.view_settings.view_transform = "Standard"
    scene.view_settings.look = "None"
    world = bpy.data.worlds.new("world")
    scene.world = world
    shading = scene.display.shading

    cam_data = bpy.data.cameras.new("camera")
    cam_data.type = "PERSP"
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.sensor_width = float(job["sensor_mm"])
    cam_data.lens = float(job["focal_mm"])
    cam_data.clip_start, cam_data.clip_end = 0.05, 200.0
    cam = bpy.data.objects.new("camera", cam_data)
    scene.collection.objects.link(cam)
    scene.camera = cam

    floor = _mesh_object(bpy, "floor", job["floor/vertices"], job["floor/faces"], job["floor/material"],
                         job["floor/palette"], smooth=False)
    figures = []
    for i in range(int(job["num_figures"])):
        verts = job[f"fig{i}/vertices"]
        ob = _mesh_object(bpy, f"figure{i}", verts[0], job[f"fig{i}/faces"], job[f"fig{i}/material"],
                          job[f"fig{i}/palette"], smooth=True)
        ob.color = (*map(float, job[f"fig{i}/id_colour"]), 1.0)
        figures.append((ob.data, (verts * CV_TO_BLENDER).astype(np.float32)))

    passes = (
        ("render", "frames", dict(light="STUDIO", color_type="MATERIAL", aa="FXAA",
                                  background=tuple(map(float, job["background"])), floor=True)),
        ("mask", "mask", dict(light="FLAT", color_type="OBJECT", aa="OFF", background=(0.0, 0.0, 0.0),
                              floor=False)),
    )
    for stage, folder, cfg in passes:
        shading.light = cfg["light"]
        shading.color_type = cfg["color_type"]
        shading.show_object_outline = False
        shading.show_cavity = False
        shading.show_shadows = False
        scene.display.render_aa = cfg["aa"]
        world.color = cfg["background"]
        floor.hide_render = not cfg["floor"]
        target = out_dir / folder
        target.mkdir(parents=True, exist_ok=True)
        for t in range(frames):
            for mesh, verts in figures:
                mesh.vertices.foreach_set("co", verts[t].ravel())
                mesh.update()
            scene.render.filepath = str(target / f"{t:04d}.png")
            bpy.ops.render.render(write_still=True)
            _progress(stage, t + 1, frames)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m samples.render JOB.npz OUT_DIR", file=sys.stderr)
        return 2
    job, out = Path(args[0]), Path(args[1])
    if not job.is_file():
        print(f"error: job file not found: {job}", file=sys.stderr)
        return 2
    render(job, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
