"""addon/camera.py: the one camera-frame -> Blender conversion and the matching camera."""

from __future__ import annotations

import bpy
import numpy as np
import pytest
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

from addon import camera


def test_conversion_is_a_rotation_with_z_up():
    r = camera.CAMERA_TO_BLENDER
    np.testing.assert_allclose(r @ r.T, np.eye(3))
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r @ [0, -1, 0], [0, 0, 1])  # camera up (-y) -> world +Z
    np.testing.assert_allclose(r @ [0, 0, 1], [0, 1, 0])   # camera forward -> world +Y
    rng = np.random.default_rng(0)
    m = np.tile(np.eye(4), (5, 1, 1))
    m[:, :3, 3] = rng.normal(size=(5, 3))
    np.testing.assert_allclose(camera.blender_to_camera(camera.camera_to_blender(m)), m)


@pytest.mark.parametrize("size,focal,center", [((640, 480), 700.0, (330.0, 235.0)),
                                               ((720, 1280), 1100.0, (350.0, 650.0))])
def test_camera_projects_like_the_footage_camera(empty_scene, size, focal, center):
    """A camera-frame point lands on the same pixel through the Blender camera (incl. shift)."""
    intr = camera.Intrinsics((focal, focal), center, size, 30.0)
    collection = bpy.data.collections.new("Take")
    empty_scene.collection.children.link(collection)
    cam = camera.build_camera("Cam", collection, intr)
    camera.apply_render_settings(empty_scene, intr)
    bpy.context.view_layer.update()
    rng = np.random.default_rng(1)
    points = np.c_[rng.uniform(-1, 1, 20), rng.uniform(-1, 1, 20), rng.uniform(2, 8, 20)]
    m = np.tile(np.eye(4), (20, 1, 1))
    m[:, :3, 3] = points
    world = camera.camera_to_blender(m)[:, :3, 3]
    w, h = size
    for p, wp in zip(points, world):
        ndc = world_to_camera_view(empty_scene, cam, Vector(wp.tolist()))
        u, v = ndc.x * w, (1.0 - ndc.y) * h
        assert u == pytest.approx(focal * p[0] / p[2] + center[0], abs=1e-3)
        assert v == pytest.approx(focal * p[1] / p[2] + center[1], abs=1e-3)
    assert (empty_scene.render.resolution_x, empty_scene.render.resolution_y) == size
    assert empty_scene.render.fps == 30 and empty_scene.render.fps_base == pytest.approx(1.0)


def test_fps_and_focal_conversions():
    assert camera.fps_to_blender(29.97) == (30, pytest.approx(30 / 29.97))
    assert camera.fps_to_blender(25.0) == (25, 1.0)
    assert camera.lens_mm(1000.0, 1920, 36.0) == pytest.approx(18.75)
    assert camera.focal_px_from_mm(18.75, 1920, 36.0) == pytest.approx(1000.0)
    assert camera.focal_px_from_fov(90.0, 1000) == pytest.approx(500.0)


def test_footage_becomes_the_camera_background(empty_scene, tmp_path):
    image = bpy.data.images.new("frame", 64, 48)
    image.filepath_raw = str(tmp_path / "frame.png")
    image.file_format = "PNG"
    image.save()
    clip = camera.load_clip(str(tmp_path / "frame.png"))
    assert camera.load_clip(str(tmp_path / "frame.png")) == clip  # reused, not loaded twice
    collection = bpy.data.collections.new("Take")
    empty_scene.collection.children.link(collection)
    cam = camera.build_camera("Cam", collection, camera.Intrinsics((60.0, 60.0), (32.0, 24.0), (64, 48), 24.0),
                              clip=clip)
    assert cam.data.show_background_images
    assert [bg.clip for bg in cam.data.background_images] == [clip]
    assert cam.data.background_images[0].source == "MOVIE_CLIP"
    with pytest.raises(FileNotFoundError):
        camera.load_clip(str(tmp_path / "missing.mp4"))


def test_lens_note_says_how_sure_the_lens_is():
    """640 px wide on 36 mm: 700 px is a 39.4 mm lens, a 1-sigma of 210 px is 11.8 mm."""
    assert camera.lens_note(700.0, 0.0, "user", 640) == "camera 39.4 mm (the lens you gave)"
    estimated = camera.lens_note(700.0, 210.0, "estimated", 640)
    assert estimated.startswith("camera 39.4 mm +-12 mm (estimated from perspective")
    assert "give the lens" in estimated
    assert camera.lens_note(700.0, 420.0, "prior", 640).startswith("camera 39.4 mm +-24 mm (assumed")
    assert camera.lens_note(700.0, 210.0, "estimated", 640, 23.5).startswith("camera 25.7 mm +-8 mm")
    metadata = camera.lens_note(700.0, 70.0, "metadata", 640)
    assert metadata == "camera 39.4 mm +-4 mm (from the footage's lens metadata)"
