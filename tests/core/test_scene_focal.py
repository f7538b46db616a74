"""Focal from two families of level lines at right angles (core.scene_focal), on segments projected
through a known camera; on drawn floors and the samples in tests/core/test_horizon.py, and joined to
the people's estimate in tests/core/fit/test_focal.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.scene_focal import MIN_LOG_STD, centred, right_angle_focal
from models.kinematics import axis_angle_to_matrix_np

SIZE = (640, 480)


def _camera(focal: float, yaw_deg: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(K (3, 3), R (3, 3) camera from world; world: x, z on the ground, y up; camera 1.6 m up)."""
    k = np.array([[focal, 0.0, SIZE[0] / 2], [0.0, focal, SIZE[1] / 2], [0.0, 0.0, 1.0]])
    flip = np.diag([1.0, -1.0, 1.0])                                 # camera y points down
    pitch = axis_angle_to_matrix_np(np.array([math.radians(pitch_deg), 0.0, 0.0]))
    yaw = axis_angle_to_matrix_np(np.array([0.0, math.radians(yaw_deg), 0.0]))
    return k, pitch @ flip @ yaw


def _family(k: np.ndarray, rot: np.ndarray, direction: np.ndarray, across: np.ndarray,
            rng: np.random.Generator, noise_px: float) -> np.ndarray:
    """(N, 4) segments of ground lines along ``direction`` (3,), spaced 1 m along ``across``,
    seen by the camera (1.6 m up), each cut to its part inside the image, endpoints + noise (px)."""
    out = []
    for offset in range(-8, 9):
        s = np.linspace(-20, 20, 400)[:, None]
        world = offset * across + s * direction + np.array([0.0, -1.6, 0.0]) + np.array([0.0, 0.0, 6.0])
        cam = world @ rot.T
        cam = cam[cam[:, 2] > 0.5]
        px = cam @ k.T
        px = px[:, :2] / px[:, 2:]
        inside = px[(px[:, 0] >= 0) & (px[:, 0] < SIZE[0]) & (px[:, 1] >= 0) & (px[:, 1] < SIZE[1])]
        if len(inside) > 1 and np.linalg.norm(inside[-1] - inside[0]) > 40:
            out.append(np.r_[inside[0], inside[-1]] + rng.normal(0.0, noise_px, 4))
    return np.array(out)


def _vanishing(k: np.ndarray, rot: np.ndarray, direction: np.ndarray) -> np.ndarray:
    v = k @ rot @ direction
    return v / np.linalg.norm(v)


@pytest.mark.parametrize(("focal", "yaw", "pitch"), [(350.0, 35.0, 10.0), (622.0, 25.0, 6.0),
                                                      (900.0, 40.0, 4.0), (450.0, -30.0, -5.0)])
def test_two_families_at_right_angles_give_the_focal(focal: float, yaw: float, pitch: float) -> None:
    k, rot = _camera(focal, yaw, pitch)
    x, z = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
    errors, stds = [], []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        a, b = _family(k, rot, x, z, rng, 0.3), _family(k, rot, z, x, rng, 0.3)
        # the fit starts from rough vanishing points (here: the true ones nudged)
        starts = [_vanishing(k, rot, x) + 1e-3, _vanishing(k, rot, z) - 1e-3]
        found = right_angle_focal([(a, starts[0]), (b, starts[1])], SIZE)
        assert found is not None
        errors.append(math.log(found.focal_px / focal))
        stds.append(found.log_std)
    assert max(abs(e) for e in errors) < 0.05, errors
    # the stated 1-sigma covers the spread over noise draws (and is never below its floor)
    assert np.sqrt(np.mean(np.square(errors))) < 1.5 * np.mean(stds)
    assert min(stds) >= MIN_LOG_STD


def test_a_family_level_in_the_image_says_nothing() -> None:
    # the camera looks along one family: its lines are level in the image, their vanishing point at
    # infinity, and the focal is lost (0 times infinity) -> None instead of a wild number
    k, rot = _camera(500.0, 0.0, 8.0)
    x, z = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
    rng = np.random.default_rng(0)
    a, b = _family(k, rot, x, z, rng, 0.3), _family(k, rot, z, x, rng, 0.3)
    assert right_angle_focal([(a, _vanishing(k, rot, x)), (b, _vanishing(k, rot, z))], SIZE) is None


def test_too_few_segments_give_none() -> None:
    k, rot = _camera(500.0, 30.0, 8.0)
    x, z = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
    a = _family(k, rot, x, z, np.random.default_rng(0), 0.3)
    assert right_angle_focal([(a, _vanishing(k, rot, x)), (a[:1], _vanishing(k, rot, z))], SIZE) is None


def test_lines_not_at_right_angles_give_a_wrong_focal() -> None:
    # the assumption this module cannot test: 60 degrees between the families gives a confident,
    # wrong focal (core.fit.focal.estimate_focal checks it against the people)
    k, rot = _camera(500.0, 30.0, 8.0)
    x = np.array([1.0, 0.0, 0.0])
    d = np.array([math.cos(math.radians(60)), 0.0, math.sin(math.radians(60))])
    rng = np.random.default_rng(0)
    a = _family(k, rot, x, np.array([0.0, 0.0, 1.0]), rng, 0.3)
    b = _family(k, rot, d, np.array([d[2], 0.0, -d[0]]), rng, 0.3)
    found = right_angle_focal([(a, _vanishing(k, rot, x)), (b, _vanishing(k, rot, d))], SIZE)
    assert found is not None and abs(math.log(found.focal_px / 500.0)) > 3 * found.log_std
    # the vertical (a wall's edges) is at right angles to both whatever the scene: with it the
    # three do not fit at right angles, and the scene gives no focal
    up = _verticals(k, rot, rng)
    assert right_angle_focal([(a, _vanishing(k, rot, x)), (b, _vanishing(k, rot, d)),
                              (up, _vanishing(k, rot, np.array([0.0, 1.0, 0.0])))], SIZE) is None


def _verticals(k: np.ndarray, rot: np.ndarray, rng: np.random.Generator, noise_px: float = 0.3) -> np.ndarray:
    """(N, 4) segments of vertical edges (0.3 to 2.5 m up) standing on the ground 4-9 m away."""
    out = []
    for x in np.linspace(-4.0, 4.0, 9):
        for depth in (4.0, 9.0):
            ends = np.array([[x, -1.3, depth], [x, 0.9, depth]]) @ rot.T     # camera 1.6 m up
            px = ends @ k.T
            px = px[:, :2] / px[:, 2:]
            if np.all((px >= 0) & (px < SIZE)):
                out.append(px.reshape(4) + rng.normal(0.0, noise_px, 4))
    return np.array(out)


@pytest.mark.parametrize(("focal", "yaw", "pitch"), [(400.0, 0.0, 12.0), (700.0, 20.0, -8.0)])
def test_one_level_family_and_the_vertical_give_the_focal_and_the_tilt(focal: float, yaw: float,
                                                                        pitch: float) -> None:
    # a camera square to a room (the level family across the view is level in the image) still has
    # the floor's lines into the distance and the walls' vertical edges: the focal and the up
    k, rot = _camera(focal, yaw, pitch)
    z, up = np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])
    rng = np.random.default_rng(3)
    a, v = _family(k, rot, z, np.array([1.0, 0.0, 0.0]), rng, 0.3), _verticals(k, rot, rng)
    found = right_angle_focal([(a, _vanishing(k, rot, z)), (v, _vanishing(k, rot, up) + 1e-3)], SIZE)
    assert found is not None and abs(math.log(found.focal_px / focal)) < max(0.05, 2 * found.log_std)
    assert abs(abs(found.rotation[:, 1] @ (rot @ up)) - 1.0) < 1e-3       # the world's up, either sign
    # and all three families together, at right angles: a tighter focal
    b = _family(k, rot, np.array([1.0, 0.0, 0.0]), z, rng, 0.3) if yaw else None
    if b is not None:
        three = right_angle_focal([(a, _vanishing(k, rot, z)), (b, _vanishing(k, rot, np.array([1.0, 0, 0]))),
                                   (v, _vanishing(k, rot, up))], SIZE)
        assert three is not None and abs(math.log(three.focal_px / focal)) < 0.05


@pytest.mark.parametrize("shift_px", [0.0, 60.0])
def test_three_families_must_fix_the_principal_point_at_the_centre(shift_px: float) -> None:
    # three families at right angles fix the principal point (their vanishing points' orthocentre);
    # with 2 px of noise, a camera whose principal point is 60 px right and 30 px down still passes
    # the misfit test, but not the test that the point they fix is the centre the fit assumes
    k, rot = _camera(500.0, 30.0, 10.0)
    k[0, 2] += shift_px
    k[1, 2] += shift_px / 2
    rng = np.random.default_rng(3)
    x, z, up = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0])
    families = [(_family(k, rot, z, x, rng, 2.0), _vanishing(k, rot, z)),
                (_family(k, rot, x, z, rng, 2.0), _vanishing(k, rot, x)),
                (_verticals(k, rot, rng, 2.0), _vanishing(k, rot, up))]
    found = right_angle_focal(families, SIZE)
    assert found is not None and abs(math.log(found.focal_px / 500.0)) < 0.1
    assert centred([seg for seg, _ in families], found, SIZE) is (shift_px == 0.0)


def test_real_webcam_photos_of_a_chessboard(opencv_doc_data) -> None:
    """Real photos nobody here made: Debian opencv-doc's left01-14.jpg, a 640x480 webcam calibrated
    (left_intrinsics.yml) at 535.9 px with strong barrel distortion (k1 -0.27) and its principal
    point 22 px off the centre. The board's two families of lines are at right angles. Measured:
    9 of 13 photos give a focal, median error 12.5 %, each within 2 stated sigma; the fitted
    distortion is barrel where the lines are long (+0.12 on four photos)."""
    import cv2

    from core.horizon import segments, vanishing_points

    errors, sigmas, distortions = [], [], []
    for path in sorted(opencv_doc_data.glob("left[01][0-9].jpg")):
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        seg = segments(gray)
        families = [f for f in vanishing_points(seg, np.random.default_rng(0)) if f.members.sum() >= 5][:2]
        if len(families) < 2:
            continue
        size = (gray.shape[1], gray.shape[0])
        found = right_angle_focal([(seg[f.members], f.point) for f in families], size)
        if found is not None:
            errors.append(math.log(found.focal_px / 535.9))
            sigmas.append(found.log_std)
            distortions.append(found.distortion)
    assert len(errors) >= 7, errors
    assert np.median(np.abs(errors)) < 0.15, errors
    assert all(abs(e) < 2.5 * s for e, s in zip(errors, sigmas, strict=True)), (errors, sigmas)
    assert sum(d > 0.08 for d in distortions) >= 3 and min(distortions) > -0.05, distortions
