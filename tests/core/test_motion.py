"""core.motion: assembling motion files from model parameters; the FK contract of docs/formats.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from addon.motion_file import load_motion
from core.motion import CameraParams, HandParams, PersonParams, body_motion, hand_motion, write_motion
from models import kinematics as kin
from models.body import load_body_model, load_hand_model
from models.smplx_files import write_mano_pkl, write_smplx_npz


def _person(track_id: int, frames: int, seed: int) -> PersonParams:
    rng = np.random.default_rng(seed)
    return PersonParams(
        track_id=track_id, betas=rng.normal(0, 1, 10), global_orient=rng.normal(0, 1, (frames, 3)),
        body_pose=rng.normal(0, 0.3, (frames, 21, 3)), left_hand_pose=rng.normal(0, 0.3, (frames, 15, 3)),
        right_hand_pose=rng.normal(0, 0.3, (frames, 15, 3)), jaw_pose=rng.normal(0, 0.1, (frames, 3)),
        transl=rng.normal(0, 1, (frames, 3)) + [0, 0, 4], valid=rng.random(frames) > 0.2,
        confidence=rng.random(frames))


@pytest.mark.parametrize("kind", ["mannequin-x", "smplx"])
def test_body_motion_round_trip_and_fk_contract(tmp_path: Path, kind: str) -> None:
    model_dir = None
    if kind == "smplx":
        model_dir = str(write_smplx_npz(tmp_path / "models" / "SMPLX_NEUTRAL.npz").parent)
    body = load_body_model(kind, model_dir)
    frames = 5
    people = [_person(4, frames, 0), _person(9, frames, 1)]
    people[1].extras["joints_cam"] = np.zeros((frames, 55, 3), np.float32)
    data = body_motion(people, body, fps=25.0, image_size=(1280, 720), frame_index=np.arange(frames) + 10,
                       camera=CameraParams((1000.0, 1000.0), (640.0, 360.0), 40.0, "estimated"),
                       source="clip.mp4", extras={"camera_focal_mm": np.asarray(35.0)})
    write_motion(tmp_path / "m.npz", data)
    motion = load_motion(tmp_path / "m.npz")
    assert motion.avatar.model == kind and motion.num_people == 2 and motion.frame_index[0] == 10
    assert motion.people[1].extras["joints_cam"].shape == (frames, 55, 3)
    for p, person in zip(people, motion.people):
        # docs/formats.md: FK with the file's values gives the model's joints in the camera frame
        rot = kin.axis_angle_to_matrix_np(person.local_axis_angles(motion.avatar.hand_mean))
        joints, _ = kin.forward_kinematics_np(rot, person.rest_joints, motion.avatar.parents.tolist(),
                                              person.transl)
        t = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in p.__dict__.items()
             if k in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "transl")}
        out = body(betas=torch.as_tensor(np.asarray(p.betas, np.float32)).expand(frames, 10), **t)
        np.testing.assert_allclose(joints, out.joints.numpy(), atol=2e-5)
        np.testing.assert_allclose(person.rest_vertices, body.rest_vertices(p.betas), atol=1e-6)
        np.testing.assert_array_equal(person.expression, 0.0)


def test_hand_motion_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / "mano"
    write_mano_pkl(folder / "MANO_RIGHT.pkl", "right")
    write_mano_pkl(folder / "MANO_LEFT.pkl", "left", seed=2)
    models = {side: load_hand_model(str(folder), side) for side in ("left", "right")}
    rng = np.random.default_rng(0)
    frames = 3
    hands = [HandParams(track_id=i, side=side, betas=rng.normal(0, 1, 10), global_orient=rng.normal(0, 1, (frames, 3)),
                        hand_pose=rng.normal(0, 0.3, (frames, 15, 3)), transl=rng.normal(0, 0.1, (frames, 3)),
                        valid=np.ones(frames, bool), confidence=np.ones(frames))
             for i, side in enumerate(("left", "right"))]
    data = hand_motion(hands, models, fps=30, image_size=(640, 480), frame_index=np.arange(frames),
                       camera=CameraParams((600.0, 600.0), (320.0, 240.0), 0.0, "user"))
    write_motion(tmp_path / "hands.npz", data)
    motion = load_motion(tmp_path / "hands.npz")
    assert motion.subject == "hands" and motion.avatar.num_joints == 16
    np.testing.assert_allclose(motion.avatar.hand_mean[:15], models["left"].hand_mean.numpy())
    for h, person in zip(hands, motion.people):
        rot = kin.axis_angle_to_matrix_np(person.local_axis_angles(motion.avatar.hand_mean))
        joints, _ = kin.forward_kinematics_np(rot, person.rest_joints, motion.avatar.parents.tolist(), person.transl)
        model = models[h.side]
        out = model(torch.as_tensor(np.asarray(h.betas, np.float32)).expand(frames, 10),
                    torch.as_tensor(h.global_orient, dtype=torch.float32),
                    torch.as_tensor(h.hand_pose, dtype=torch.float32), torch.as_tensor(h.transl, dtype=torch.float32))
        np.testing.assert_allclose(joints, out.joints.numpy(), atol=2e-5)
