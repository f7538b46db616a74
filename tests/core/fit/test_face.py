"""Face: the face-mesh -> iBUG-51 landmark map, and expression/jaw fitting on an official-format
SMPL-X file written by the test (``models.smplx_files.write_smplx_npz``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mediapipe.tasks.python.vision import FaceLandmarksConnections as Mesh

from core.fit.face import FACEMESH_TO_IBUG51, fit_expression
from models.body import BodyModel, load_body_model
from models.smplx_files import write_smplx_npz

FOCAL, CENTER = 2500.0, np.array([640.0, 360.0])


def _parts(connections: list) -> set[int]:
    return {i for c in connections for i in (c.start, c.end)}


def _graph_distance(connections: list, a: int, b: int) -> int:
    """Edges between face-mesh points a and b along the connections (breadth-first)."""
    neighbours: dict[int, set[int]] = {}
    for c in connections:
        neighbours.setdefault(c.start, set()).add(c.end)
        neighbours.setdefault(c.end, set()).add(c.start)
    frontier, seen, steps = {a}, {a}, 0
    while b not in frontier:
        frontier = {n for p in frontier for n in neighbours[p]} - seen
        assert frontier, f"{a} and {b} are not connected"
        seen |= frontier
        steps += 1
    return steps


def test_the_51_points_are_the_right_face_mesh_parts_in_ibug_order() -> None:
    m = FACEMESH_TO_IBUG51.tolist()
    assert len(m) == 51 and len(set(m)) == 51 and all(0 <= i < 468 for i in m)
    # the person's own right/left parts, as the face mesh names them (iBUG 17-21 and 36-41: right)
    assert set(m[0:5]) <= _parts(Mesh.FACE_LANDMARKS_RIGHT_EYEBROW)
    assert set(m[5:10]) <= _parts(Mesh.FACE_LANDMARKS_LEFT_EYEBROW)
    assert set(m[19:25]) <= _parts(Mesh.FACE_LANDMARKS_RIGHT_EYE)
    assert set(m[25:31]) <= _parts(Mesh.FACE_LANDMARKS_LEFT_EYE)
    assert set(m[31:51]) <= _parts(Mesh.FACE_LANDMARKS_LIPS)
    # each closed contour is walked once, in order: consecutive points add up to one lap
    for rows, connections, lap in ((range(19, 25), Mesh.FACE_LANDMARKS_RIGHT_EYE, 16),
                                   (range(25, 31), Mesh.FACE_LANDMARKS_LEFT_EYE, 16),
                                   (range(31, 43), Mesh.FACE_LANDMARKS_LIPS, 20),
                                   (range(43, 51), Mesh.FACE_LANDMARKS_LIPS, 20)):
        points = [m[r] for r in rows]
        steps = [_graph_distance(connections, a, b) for a, b in zip(points, points[1:] + points[:1])]
        assert sum(steps) == lap and min(steps) >= 1, (points, steps)
    # the mouth corners of both lip contours are on the same side (iBUG 48/60 right, 54/64 left)
    assert _graph_distance(Mesh.FACE_LANDMARKS_LIPS, m[31], m[37]) == 10


@pytest.fixture(scope="module")
def smplx_model(tmp_path_factory: pytest.TempPathFactory) -> BodyModel:
    folder = tmp_path_factory.mktemp("smplx")
    write_smplx_npz(folder / "SMPLX_NEUTRAL.npz")
    return load_body_model("smplx", str(folder))


def _scene(model: BodyModel, frames: int = 40, seed: int = 3) -> dict[str, np.ndarray]:
    """A person facing the camera 1.2 m away, talking: true expression (T,10) and jaw (T,3),
    and the face-mesh landmarks (T,468,3) px a perfect detector would report."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, frames)
    expression = np.stack([1.5 * np.sin(2 * np.pi * (k + 1) * t / 3 + k) for k in range(10)], -1)
    jaw = np.zeros((frames, 3))
    jaw[:, 0] = 0.2 * (1 + np.sin(2 * np.pi * t))
    s = dict(betas=rng.normal(0, 0.5, 10), global_orient=np.tile([np.pi, 0, 0], (frames, 1)),
             body_pose=rng.normal(0, 0.05, (frames, 21, 3)), left_hand_pose=np.zeros((frames, 15, 3)),
             right_hand_pose=np.zeros((frames, 15, 3)), transl=np.tile([0.0, 0.3, 1.2], (frames, 1)),
             expression=expression, jaw=jaw)
    s = {k: np.asarray(v, np.float32) for k, v in s.items()}
    f = torch.as_tensor
    with torch.no_grad():
        pose = model.full_pose(f(s["global_orient"]), f(s["body_pose"]), f(s["left_hand_pose"]),
                               f(s["right_hand_pose"]), f(s["jaw"]))
        points = model.face_landmarks(f(s["betas"])[None], pose, f(s["transl"]))(f(s["expression"]),
                                                                                 f(s["jaw"])).numpy()
    face = np.zeros((frames, 468, 3), np.float32)
    face[:, FACEMESH_TO_IBUG51, :2] = FOCAL * points[..., :2] / points[..., 2:3] + CENTER
    s["face_2d"], s["face_conf"] = face, np.ones(frames, np.float32)
    return s


def _fit(model: BodyModel, s: dict[str, np.ndarray], body_pose: np.ndarray | None = None, **kwargs: object):
    body = s["body_pose"] if body_pose is None else body_pose
    return fit_expression(model, s["betas"], s["global_orient"], body, s["left_hand_pose"],
                          s["right_hand_pose"], np.zeros_like(s["jaw"]), s["transl"], s["face_2d"], s["face_conf"],
                          FOCAL, CENTER, **kwargs)


def test_a_known_expression_and_jaw_are_recovered_despite_head_pose_error(smplx_model: BodyModel) -> None:
    s = _scene(smplx_model)
    s["face_conf"][12:16] = 0.0  # the face is lost for 4 frames
    wrong_head = s["body_pose"].copy()
    wrong_head[:, 14] += (0.06, -0.04, 0.03)  # the body fit's head is ~4 degrees off
    fit = _fit(smplx_model, s, wrong_head, smoothing=1.0)
    seen = s["face_conf"] > 0
    assert fit.frames == int(seen.sum()) and np.array_equal(fit.seen, seen)
    error = np.abs(fit.expression - s["expression"])
    assert error[seen].mean() < 0.1, error[seen].mean()      # the truth is ~1 on average, up to 1.5
    assert np.abs(fit.jaw_pose[seen, 0] - s["jaw"][seen, 0]).mean() < 0.05
    assert fit.residual_before > 0.1 and fit.residual_after < 0.01   # eye-corner distances
    # the lost frames follow their neighbours instead of snapping to neutral
    gap = np.abs(fit.expression[12:16] - s["expression"][12:16]).mean()
    assert gap < 0.5 * np.abs(s["expression"][12:16]).mean()


def test_smoothing_steadies_expression_under_landmark_noise(smplx_model: BodyModel) -> None:
    s = _scene(smplx_model, seed=5)
    scale = np.linalg.norm(s["face_2d"][:, 33, :2] - s["face_2d"][:, 263, :2], axis=-1).mean()
    rng = np.random.default_rng(0)
    s["face_2d"][:, FACEMESH_TO_IBUG51, :2] += rng.normal(0, 0.03 * scale, (len(s["jaw"]), 51, 2))
    errors, jitter = [], []
    for smoothing in (0.0, 1.0):
        fit = _fit(smplx_model, s, smoothing=smoothing)
        wrong = fit.expression - s["expression"]
        errors.append(np.abs(wrong).mean())
        jitter.append(np.abs(np.diff(wrong, 2, axis=0)).mean())  # frame-to-frame shake of the error
    print(jitter, errors)
    assert jitter[1] < 0.5 * jitter[0] and errors[1] < errors[0], (jitter, errors)


def test_no_face_means_neutral_and_mannequin_has_no_expression(smplx_model: BodyModel,
                                                              body_model: BodyModel) -> None:
    s = _scene(smplx_model, frames=6)
    s["face_conf"][:] = 0.0
    fit = _fit(smplx_model, s)
    assert fit.frames == 0 and not fit.expression.any() and not fit.jaw_pose.any()
    assert body_model.num_expression == 0 and smplx_model.num_expression == 10
    with pytest.raises(ValueError, match="no expression basis"):
        _fit(body_model, s)


def test_the_test_model_expression_moves_only_its_face(tmp_path: Path) -> None:
    """The synthetic file's expression basis moves only the face parts (so the joints stay put)."""
    with np.load(write_smplx_npz(tmp_path / "SMPLX_NEUTRAL.npz")) as data:
        expr = data["shapedirs"][:, :, 300:]
        lmk = data["lmk_faces_idx"]
    moving = np.nonzero(np.abs(expr).sum(axis=(1, 2)) > 0)[0] // 6
    assert set(moving.tolist()) == {15, 22, 23, 24}  # head, jaw, eyes
    assert set((lmk // 8).tolist()) <= {15, 22, 23, 24}
