"""Real ground-truth samples (data/samples/<name>/, rendered footage with the true motion):
the applied take reproduces the true joints and, seen from the camera, covers the people
in the footage pixel for pixel."""

from __future__ import annotations

import subprocess
from pathlib import Path

import bpy
import numpy as np
import pytest

from addon.camera import blender_to_camera
from addon.motion_file import MotionFileError, load_motion
from addon.operators.apply import apply_motion

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "samples" / "default"
WORKER = REPO / ".venv" / "worker" / "bin" / "python"

pytestmark = pytest.mark.skipif(not (SAMPLE / "ground_truth.npz").exists() or not WORKER.exists(),
                                reason="ground-truth sample not generated (make samples)")


@pytest.fixture(scope="module")
def truth(tmp_path_factory) -> Path:
    """The sample's ground truth as a complete motion file (``avatar/*`` added from the
    worker's mannequin body model when the sample lacks them)."""
    path = SAMPLE / "ground_truth.npz"
    try:
        load_motion(path)
        return path
    except MotionFileError:
        pass
    out = tmp_path_factory.mktemp("gt") / "ground_truth_full.npz"
    code = ("import sys, numpy as np; from models.body import MannequinBody; "
            "d = dict(np.load(sys.argv[1])); d.update(MannequinBody().avatar_arrays()); np.savez(sys.argv[2], **d)")
    subprocess.run([str(WORKER), "-c", code, str(path), str(out)], cwd=REPO, check=True, timeout=300)
    return out


@pytest.mark.compat42
def test_true_motion_reproduces_the_true_joints(truth, empty_scene):
    motion = load_motion(truth)
    take = apply_motion(bpy.context, motion, name="Truth")
    for person, avatar in zip(motion.people, take.avatars):
        world = np.array(avatar.armature.matrix_world)
        for t in range(0, motion.num_frames, 7):
            empty_scene.frame_set(int(motion.frame_index[t]) + 1)
            m = np.tile(np.eye(4), (len(avatar.bone_names), 1, 1))
            m[:, :, 3] = [world @ np.r_[np.array(avatar.armature.pose.bones[n].head), 1.0] for n in avatar.bone_names]
            np.testing.assert_allclose(blender_to_camera(m)[:, :3, 3], person.extras["joints_cam"][t], atol=1e-5)


def test_avatars_cover_the_people_from_the_camera(truth, empty_scene, tmp_path):
    """Workbench silhouette of the take from its camera vs the sample's per-pixel person ids."""
    motion = load_motion(truth)
    apply_motion(bpy.context, motion, name="Truth", footage=str(SAMPLE / "footage.mp4"))
    scene = empty_scene
    assert scene.camera.data.background_images[0].clip.size[:] == tuple(motion.image_size)
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    id_mask = np.load(SAMPLE / "id_mask.npz")["id_mask"]
    for t in (5, motion.num_frames // 2, motion.num_frames - 5):
        scene.frame_set(int(motion.frame_index[t]) + 1)
        scene.render.filepath = str(tmp_path / f"frame{t}.png")
        bpy.ops.render.render(write_still=True)
        image = bpy.data.images.load(scene.render.filepath)
        w, h = image.size
        pixels = np.empty(w * h * 4, np.float32)
        image.pixels.foreach_get(pixels)
        silhouette = pixels.reshape(h, w, 4)[::-1, :, 3] > 0.5
        people = id_mask[int(motion.frame_index[t])] > 0
        iou = (silhouette & people).sum() / (silhouette | people).sum()
        assert iou > 0.98, f"frame {t}: IoU {iou:.3f}"
