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
