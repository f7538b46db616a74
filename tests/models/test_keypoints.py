"""MediaPipe landmark -> SMPL-X joint maps: completeness, symmetry, anatomy on the rest body,
rigid attachment under pose."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import keypoints as kp
from models.body import load_body_model
from models.skeleton import SMPLX_JOINT_NAMES


@pytest.fixture(scope="module")
def body():
    return load_body_model("mannequin-x")


def _rest(body, betas: torch.Tensor | None = None):
    b = torch.zeros(1, 10) if betas is None else betas
    z = torch.zeros
    out = body(b, z(1, 3), z(1, 21, 3), -body.hand_mean[None, :15], -body.hand_mean[None, 15:], z(1, 3), z(1, 3))
    return out, body.rest_joints(b)


def _row(m: kp.LandmarkMap, names: tuple[str, ...], name: str) -> int:
    return int(np.nonzero(m.landmarks == names.index(name))[0][0])


def test_landmark_sets_are_complete_and_unique() -> None:
    assert len(kp.POSE_LANDMARK_NAMES) == 33 and len(kp.HAND_LANDMARK_NAMES) == 21
    assert len(set(kp.POSE_MAP.landmarks.tolist())) == len(kp.POSE_MAP.landmarks) == 29
    missing = {kp.POSE_LANDMARK_NAMES[i] for i in range(33)} - {kp.POSE_LANDMARK_NAMES[i] for i in kp.POSE_MAP.landmarks}
    assert missing == {"left_eye_inner", "left_eye_outer", "right_eye_inner", "right_eye_outer"}
    for m in (kp.LEFT_HAND_MAP, kp.RIGHT_HAND_MAP, kp.MANO_HAND_MAP):
        assert m.landmarks.tolist() == list(range(21))
        assert ((m.weights > 0) & (m.weights <= 1)).all()
    assert set(kp.MANO_HAND_MAP.joints.tolist()) == set(range(16))
    left = {SMPLX_JOINT_NAMES[j] for j in kp.LEFT_HAND_MAP.joints}
    assert left == {"left_wrist"} | {n for n in SMPLX_JOINT_NAMES if n.startswith("left_") and n[-1] in "123"}
    with pytest.raises(ValueError):
        kp.hand_targets("middle")


def test_left_right_mirror() -> None:
    names = kp.POSE_LANDMARK_NAMES
    for i, name in enumerate(names):
        if not name.startswith("left_") or i not in kp.POSE_MAP.landmarks:
            continue
        left = _row(kp.POSE_MAP, names, name)
        right = _row(kp.POSE_MAP, names, "right_" + name[5:])
        np.testing.assert_array_equal(kp.POSE_MAP.offsets[left] * [-1, 1, 1], kp.POSE_MAP.offsets[right])
        assert kp.POSE_MAP.weights[left] == kp.POSE_MAP.weights[right]
        assert SMPLX_JOINT_NAMES[kp.POSE_MAP.joints[right]] == SMPLX_JOINT_NAMES[kp.POSE_MAP.joints[left]].replace(
            "left", "right")


def test_anatomy_on_the_rest_body(body) -> None:
    out, rest = _rest(body)
    pts = kp.POSE_MAP.points(out.transforms, rest)[0].numpy()
    names = kp.POSE_LANDMARK_NAMES

    def p(name: str) -> np.ndarray:
        return pts[_row(kp.POSE_MAP, names, name)]

    j = rest[0].numpy()
    head = j[SMPLX_JOINT_NAMES.index("head")]
    assert p("nose")[2] > p("left_eye")[2] > head[2]                    # the face is in front (+z)
    assert p("left_ear")[0] > p("left_eye")[0] > 0 > p("right_eye")[0] > p("right_ear")[0]  # x = body's left
    assert p("mouth_left")[1] < p("nose")[1] < p("left_eye")[1]           # mouth below nose below eyes
    for side in ("left", "right"):
        ankle = j[SMPLX_JOINT_NAMES.index(f"{side}_ankle")]
        hip = j[SMPLX_JOINT_NAMES.index(f"{side}_hip")]
        assert p(f"{side}_heel")[1] < ankle[1] and p(f"{side}_heel")[2] < ankle[2]
        assert p(f"{side}_foot_index")[2] > ankle[2] + 0.1                # toes ~15 cm ahead of the ankle
        assert abs(p(f"{side}_foot_index")[1] - p(f"{side}_heel")[1]) < 0.04  # both near the floor
        assert p(f"{side}_hip")[1] > hip[1] and abs(p(f"{side}_hip")[0]) > abs(hip[0])
        np.testing.assert_allclose(p(f"{side}_knee"), j[SMPLX_JOINT_NAMES.index(f"{side}_knee")], atol=1e-6)
    # fingertips continue their finger beyond the last joint (left fingers point +x in the T-pose)
    hand = kp.LEFT_HAND_MAP.points(out.transforms, rest)[0].numpy()
    for tip, dip in ((8, 7), (12, 11), (16, 15), (20, 19)):
        assert 0.012 < hand[tip][0] - hand[dip][0] < 0.035
    right = kp.RIGHT_HAND_MAP.points(out.transforms, rest)[0].numpy()
    assert right[8][0] < right[7][0] < 0


def test_points_move_rigidly_with_their_joints(body) -> None:
    g = torch.Generator().manual_seed(0)
    b = 4
    betas = torch.randn(b, 10, generator=g)
    out = body(betas, torch.randn(b, 3, generator=g), torch.randn(b, 21, 3, generator=g) * 0.5,
               torch.randn(b, 15, 3, generator=g) * 0.3, torch.randn(b, 15, 3, generator=g) * 0.3,
               torch.randn(b, 3, generator=g) * 0.2, torch.randn(b, 3, generator=g))
    rest = body.rest_joints(betas)
    for m in (kp.POSE_MAP, kp.LEFT_HAND_MAP, kp.RIGHT_HAND_MAP):
        pts = m.points(out.transforms, rest)
        dist = (pts - out.joints[:, m.joints]).norm(dim=-1)
        torch.testing.assert_close(dist, m.local_offsets(rest).norm(dim=-1), atol=1e-5, rtol=0)
    landmarks = torch.randn(b, 33, 2)
    gathered = kp.POSE_MAP.gather(landmarks)
    assert gathered.shape == (b, 29, 2)
    torch.testing.assert_close(gathered[:, 0], landmarks[:, kp.POSE_MAP.landmarks[0]])
    centre = kp.mediapipe_hip_centre(kp.POSE_MAP.points(out.transforms, rest))
    assert centre.shape == (b, 3)


def test_points_differentiable(body) -> None:
    betas = torch.zeros(1, 10, requires_grad=True)
    orient = torch.zeros(1, 3, requires_grad=True)
    z = torch.zeros
    out = body(betas, orient, z(1, 21, 3), z(1, 15, 3), z(1, 15, 3), z(1, 3), z(1, 3))
    kp.RIGHT_HAND_MAP.points(out.transforms, body.rest_joints(betas)).sum().backward()
    assert betas.grad.abs().sum() > 0 and orient.grad.abs().sum() > 0


def test_rows_scatter_and_concat(body) -> None:
    """The fitter's helpers: landmark -> row lookup, rows -> full landmark array, one joint map."""
    hips = kp.POSE_MAP.rows([23, 24])
    assert [int(kp.POSE_MAP.landmarks[r]) for r in hips] == [23, 24]
    with pytest.raises(ValueError):
        kp.POSE_MAP.rows([1])  # the inner eye corner is not mapped
    rows = np.arange(len(kp.POSE_MAP.landmarks) * 3, dtype=np.float64).reshape(-1, 3)
    full = kp.POSE_MAP.scatter(rows[None], 33)[0]
    assert full.shape == (33, 3)
    np.testing.assert_array_equal(full[kp.POSE_MAP.landmarks], rows)
    assert np.isnan(full[1]).all() and np.isfinite(full[0]).all()
    both = kp.LandmarkMap.concat(kp.POSE_MAP, kp.LEFT_HAND_MAP)
    rest = body.rest_joints(torch.zeros(1, 10))
    eye = torch.eye(4).expand(1, rest.shape[1], 4, 4).clone()
    eye[..., :3, 3] = rest
    together = both.points(eye, rest)[0]
    apart = torch.cat((kp.POSE_MAP.points(eye, rest)[0], kp.LEFT_HAND_MAP.points(eye, rest)[0]))
    torch.testing.assert_close(together, apart)
