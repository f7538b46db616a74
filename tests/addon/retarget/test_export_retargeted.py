"""A retargeted Mixamo rig exported through Blender's FBX/BVH/glTF exporters and re-imported:
joint world rotations (up to each importer's bone axes) and positions are kept."""

from __future__ import annotations

import addon_utils
import bpy
import numpy as np
import pytest

from addon.export.formats import export_armature
from addon.retarget import mapping, transfer

pytestmark = pytest.mark.compat42
FRAMES = list(range(1, 13))
IMPORT = {
    "FBX": ("io_scene_fbx", lambda p: bpy.ops.import_scene.fbx(filepath=p, ignore_leaf_bones=False)),
    "BVH": ("io_anim_bvh", lambda p: bpy.ops.import_anim.bvh(filepath=p, rotate_mode="NATIVE",
                                                             update_scene_duration=False)),
    "GLTF": ("io_scene_gltf2", lambda p: bpy.ops.import_scene.gltf(filepath=p)),
}


def _parents(obj):
    return {b.name: (b.parent.name if b.parent else None) for b in obj.data.bones}


def _world(obj, bones, frames):
    rots, heads = [], []
    for f in frames:
        bpy.context.scene.frame_set(f)
        m = np.array([np.array(obj.matrix_world @ obj.pose.bones[b].matrix) for b in bones])
        u, _, vt = np.linalg.svd(m[:, :3, :3])
        rots.append(u @ vt)
        heads.append(m[:, :3, 3])
    return np.array(rots), np.array(heads)


def _align(moving, fixed):
    """Best rigid transform (Kabsch, no scale) of all points of ``moving`` onto ``fixed``."""
    a, b = moving.reshape(-1, 3), fixed.reshape(-1, 3)
    ca, cb = a.mean(0), b.mean(0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1, 1, d]) @ vt
    return ((a - ca) @ r + cb).reshape(moving.shape)


@pytest.mark.parametrize("fmt", ["FBX", "BVH", "GLTF"])
def test_retargeted_rig_round_trip(scene, rigs, tmp_path, fmt):
    if fmt == "GLTF" and bpy.app.version < (4, 4, 0):
        pytest.xfail("Blender 4.2's glTF exporter samples a constant pose for the baked Mixamo action "
                     "(2 samples) although the action plays in Blender; the SMPL-X avatar exports fine")
    source, target = rigs.source(frames=12), rigs.mixamo()
    rows = mapping.check_mapping(mapping.build_mapping(_parents(target)), _parents(target),
                                 mapping.source_joints(_parents(source)))
    transfer.bake_retarget(bpy.context, source, target, rows, FRAMES)
    scene.frame_start, scene.frame_end = FRAMES[0], FRAMES[-1]
    path = str(tmp_path / f"mixamo.{fmt.lower()}")
    export_armature(bpy.context, target, path, fmt)
    module, do_import = IMPORT[fmt]
    addon_utils.enable(module)
    before = set(bpy.data.objects)
    do_import(path)
    imported = next(o for o in bpy.data.objects if o not in before and o.type == "ARMATURE")
    keyed = [r[2] for r in rows]
    bones = [b for b in keyed if b in imported.pose.bones]
    assert len(bones) == len(keyed)
    r0, h0 = _world(target, bones, FRAMES)
    best = None
    for offset in (-1, 0, 1):   # importers place the first key on frame 0, 1 or 2
        r1, h1 = _world(imported, bones, [f + offset for f in FRAMES])
        r0c = r0 @ (np.swapaxes(r0[:1], -1, -2) @ r1[:1])   # each importer's own bone axes
        rel = np.swapaxes(r0c, -1, -2) @ r1
        ang = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1) / 2, -1, 1)))
        if fmt == "BVH":   # BVH keeps the armature's axes, not the object's rotation: align once
            h1 = _align(h1, h0)
        err = (float(ang.max()), float(np.linalg.norm(h0 - h1, axis=-1).max()))
        best = err if best is None or err < best else best
    print(f"retargeted Mixamo {fmt}: rotation max {best[0]:.4f} deg, position max {best[1] * 1000:.3f} mm")
    assert best[0] < 0.1 and best[1] < 1e-3
