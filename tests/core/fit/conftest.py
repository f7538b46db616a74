"""Synthetic fitting problems generated through the real BodyModel.

A known motion (betas, poses, translation) is posed with the mannequin-x body model;
its landmarks (the model points of :mod:`models.keypoints`; unmapped landmarks NaN, i.e. unseen) are projected through a
known pinhole camera, giving exactly the arrays a keypoints file carries.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.fit.observations import PersonObservations
from models import keypoints as kp
from models import kinematics as kin
from models.body import BodyModel, load_body_model


@pytest.fixture(scope="session")
def body_model() -> BodyModel:
    return load_body_model("mannequin-x")


def synthetic_motion(num_frames: int = 30, seed: int = 0, distance: float = 2.5,
                     wave: float = 1.0) -> dict[str, np.ndarray]:
    """A person standing ``distance`` m in front of the camera, turning slightly and waving."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, num_frames)
    go = np.zeros((num_frames, 3))
    # upright facing the camera (rotate 180 deg about x), then a slow yaw
    base = kin.axis_angle_to_matrix_np(np.array([np.pi, 0, 0]))
    yaw = kin.axis_angle_to_matrix_np(np.stack([np.zeros_like(t), 0.6 * t - 0.3, np.zeros_like(t)], -1))
    go = kin.matrix_to_axis_angle_np(yaw @ base)
    body = np.zeros((num_frames, 21, 3))
    body[:, 15, 2] = -1.1                      # left shoulder down a bit (arm by the side)
    body[:, 16, 2] = 1.1
    body[:, 16, 2] = 1.1 - wave * 1.6 * np.sin(np.pi * t)  # right arm raised (wave)
    body[:, 18, 1] = 0.3 + wave * 1.2 * np.sin(2 * np.pi * t) ** 2  # right elbow bends
    body[:, 17, 1] = -0.4
    body[:, 3, 0] = 0.3 * np.sin(np.pi * t)    # left knee
    body[:, 0, 0] = -0.3 * np.sin(np.pi * t)   # left hip
    hands = np.zeros((2, num_frames, 15, 3))
    hands[:, :, [0, 3, 6, 9], 2] = (-0.4 * np.sin(np.pi * t))[None, :, None] * np.array([1, -1])[:, None, None]
    transl = np.stack([0.1 * t - 0.05, 0.05 + 0 * t, distance + 0.2 * t], -1)
    betas = rng.normal(0, 0.5, 10)
    return {"global_orient": go, "body_pose": body, "left_hand_pose": hands[0],
            "right_hand_pose": hands[1], "transl": transl, "betas": betas}


def pose_motion(model: BodyModel, motion: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Joints (T, 55, 3), body markers (T, 33, 3) and hand markers (2, T, 21, 3), camera frame."""
    f = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
    T = motion["transl"].shape[0]
    with torch.no_grad():
        out = model(f(np.broadcast_to(motion["betas"], (T, 10))), f(motion["global_orient"]),
                    f(motion["body_pose"]), f(motion["left_hand_pose"]), f(motion["right_hand_pose"]),
                    torch.zeros(T, 3), f(motion["transl"]))
        rest = model.rest_joints(f(motion["betas"])[None])
        body = kp.POSE_MAP.scatter(kp.POSE_MAP.points(out.transforms, rest).numpy(), 33)
        hands = torch.stack([m.points(out.transforms, rest) for m in (kp.LEFT_HAND_MAP, kp.RIGHT_HAND_MAP)])
    return {"joints": out.joints.numpy(), "body": body, "hands": hands.numpy()}


def observe(posed: dict[str, np.ndarray], focal: float, image_size: tuple[int, int],
            noise_px: float = 0.0, noise_m: float = 0.0, seed: int = 1, track_id: int = 0) -> PersonObservations:
    """Keypoint arrays a perfect (or noisy) detector would give for ``posed``."""
    rng = np.random.default_rng(seed)
    center = np.array(image_size, np.float64) / 2
    body = posed["body"]
    T = body.shape[0]
    b2 = focal * body[..., :2] / body[..., 2:3] + center + rng.normal(0, noise_px, (T, 33, 2))
    hips = body[:, [23, 24]].mean(1, keepdims=True)
    b3 = body - hips + rng.normal(0, noise_m, body.shape)
    hands = posed["hands"]
    h2 = focal * hands[..., :2] / hands[..., 2:3] + center + rng.normal(0, noise_px, hands.shape[:-1] + (2,))
    h3 = hands - hands.mean(2, keepdims=True) + rng.normal(0, noise_m / 4, hands.shape)
    return PersonObservations(
        track_id=track_id, valid=np.ones(T, bool), body_2d=b2.astype(np.float32),
        body_3d=b3.astype(np.float32), body_conf=np.ones((T, 33), np.float32),
        hand_2d=h2.astype(np.float32), hand_3d=h3.astype(np.float32),
        hand_conf=np.ones((2, T, 21), np.float32), face_2d=None,
        face_conf=np.zeros(T, np.float32)).sanitized()


@pytest.fixture(scope="session")
def synth():
    """The helpers above, for tests (test files do not import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(motion=synthetic_motion, pose=pose_motion, observe=observe)
