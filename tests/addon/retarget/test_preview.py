"""Side-by-side Workbench render of the source and a retargeted Mixamo rig."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon.retarget import mapping, preview, transfer

pytestmark = pytest.mark.compat42


def _parents(obj):
    return {b.name: (b.parent.name if b.parent else None) for b in obj.data.bones}


def test_side_by_side_png(scene, rigs, tmp_path):
    source, target = rigs.source(frames=24), rigs.mixamo()
    target.location.x += 1.2                     # stand beside the source
    rows = mapping.check_mapping(mapping.build_mapping(_parents(target)), _parents(target),
                                 mapping.source_joints(_parents(source)))
    transfer.bake_retarget(bpy.context, source, target, rows, range(1, 25))
    objects_before = set(bpy.data.objects)
    path = preview.render_side_by_side(bpy.context, source, target, 12, str(tmp_path / "side.png"))
    assert set(bpy.data.objects) == objects_before          # sticks and camera removed
    image = bpy.data.images.load(path)
    w, h = image.size
    px = np.array(image.pixels[:]).reshape(h, w, 4)
    blue = (px[..., 2] > px[..., 0] + 0.15)
    orange = (px[..., 0] > px[..., 2] + 0.15)
    assert blue.sum() > 200 and orange.sum() > 200           # both figures are in the picture
    # side by side: the source (blue) left of the target (orange)
    assert np.nonzero(blue)[1].mean() < np.nonzero(orange)[1].mean()


def test_preview_command(scene, rigs, tmp_path):
    """The command renders a saved scene in a separate process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    source, target = rigs.source(frames=12), rigs.mixamo()
    target.location.x += 1.2
    rows = mapping.check_mapping(mapping.build_mapping(_parents(target)), _parents(target),
                                 mapping.source_joints(_parents(source)))
    transfer.bake_retarget(bpy.context, source, target, rows, range(1, 13))
    blend = tmp_path / "scene.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(repo), "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    run = lambda *args: subprocess.run([sys.executable, "-m", "addon.retarget.preview", *args],  # noqa: E731
                                       cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    done = run(str(blend), source.name, target.name, "6", str(tmp_path / "cmd.png"))
    assert done.returncode == 0, done.stderr[-1500:]
    assert (tmp_path / "cmd.png").stat().st_size > 1000
    bad = run(str(blend), source.name, "nope", "6", str(tmp_path / "bad.png"))
    assert bad.returncode == 2 and "nope is not an armature" in bad.stderr
