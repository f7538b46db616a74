"""Where each tracked landmark sits on the body model: virtual markers.

A MediaPipe landmark is rarely an SMPL-X joint (the nose, the ears, the heel, a
fingertip are points on the surface), so each landmark is modelled as a point
rigidly attached to one joint: ``marker = R_j @ offset + p_j`` with ``R_j, p_j``
the world rotation/position of joint j and ``offset`` a vector in that joint's
rest frame (model frame: metres, y up, the body faces +z, x to the body's left).
Offsets of head and foot markers are measured on the mannequin-x rest mesh;
fingertip offsets follow the last finger bone of the person's own rest joints.

Arrays here are numpy; :func:`marker_positions` is the torch evaluation used by
the fitter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from models.skeleton import joint_index

NUM_POSE_LANDMARKS = 33
NUM_HAND_LANDMARKS = 21

# (landmark index, joint name, offset in the joint's rest frame (m), weight)
_POSE: tuple[tuple[int, str, tuple[float, float, float], float], ...] = (
    (0, "head", (0.0, 0.0, 0.11), 1.0),                    # nose
    (1, "head", (0.016, 0.035, 0.095), 0.3),               # left eye inner
    (2, "head", (0.032, 0.035, 0.09), 0.4),                # left eye
    (3, "head", (0.048, 0.035, 0.08), 0.3),                # left eye outer
    (4, "head", (-0.016, 0.035, 0.095), 0.3),
    (5, "head", (-0.032, 0.035, 0.09), 0.4),
    (6, "head", (-0.048, 0.035, 0.08), 0.3),
    (7, "head", (0.075, 0.02, 0.0), 0.5),                  # left ear
    (8, "head", (-0.075, 0.02, 0.0), 0.5),
    (9, "head", (0.025, -0.04, 0.095), 0.3),               # mouth left
    (10, "head", (-0.025, -0.04, 0.095), 0.3),
    (11, "left_shoulder", (0.0, 0.0, 0.0), 1.0),
    (12, "right_shoulder", (0.0, 0.0, 0.0), 1.0),
    (13, "left_elbow", (0.0, 0.0, 0.0), 1.0),
    (14, "right_elbow", (0.0, 0.0, 0.0), 1.0),
    (15, "left_wrist", (0.0, 0.0, 0.0), 1.0),
    (16, "right_wrist", (0.0, 0.0, 0.0), 1.0),
    (17, "left_pinky1", (0.0, 0.0, 0.0), 0.3),
    (18, "right_pinky1", (0.0, 0.0, 0.0), 0.3),
    (19, "left_index1", (0.0, 0.0, 0.0), 0.3),
    (20, "right_index1", (0.0, 0.0, 0.0), 0.3),
    (21, "left_thumb2", (0.0, 0.0, 0.0), 0.3),
    (22, "right_thumb2", (0.0, 0.0, 0.0), 0.3),
    (23, "left_hip", (0.0, 0.0, 0.0), 1.0),
    (24, "right_hip", (0.0, 0.0, 0.0), 1.0),
    (25, "left_knee", (0.0, 0.0, 0.0), 1.0),
    (26, "right_knee", (0.0, 0.0, 0.0), 1.0),
    (27, "left_ankle", (0.0, 0.0, 0.0), 1.0),
    (28, "right_ankle", (0.0, 0.0, 0.0), 1.0),
    (29, "left_ankle", (0.0, -0.07, -0.065), 0.7),         # heel
    (30, "right_ankle", (0.0, -0.07, -0.065), 0.7),
    (31, "left_foot", (0.0, -0.015, 0.08), 0.7),           # foot index (toe tip)
    (32, "right_foot", (0.0, -0.015, 0.08), 0.7),
)

# MediaPipe hand landmark -> finger joint suffix; None: a fingertip (after joint 3)
_HAND: tuple[str | None, ...] = (
    "wrist",
    "thumb1", "thumb2", "thumb3", None,
    "index1", "index2", "index3", None,
    "middle1", "middle2", "middle3", None,
    "ring1", "ring2", "ring3", None,
    "pinky1", "pinky2", "pinky3", None,
)
TIP_FRACTION = 0.85
"""A fingertip lies this fraction of the (joint3 - joint2) rest bone beyond joint 3."""

HIP_LANDMARKS = (23, 24)
FOOT_LANDMARKS = {"left": (27, 29, 31), "right": (28, 30, 32)}  # ankle, heel, toe


@dataclass(frozen=True)
class MarkerSet:
    """Markers attached to joints.

    Attributes:
        joints: (M,) int joint index each marker rides on.
        offsets: (M, 3) float32 fixed offsets in the joint's rest frame, metres.
        tip_of: (M,) int, -1 or the index of joint 3 of a finger whose tip this is
            (offset then comes from the rest bone ``TIP_FRACTION * (J3 - J2)``).
        weights: (M,) float32 relative trust of each marker.
    """

    joints: np.ndarray
    offsets: np.ndarray
    tip_of: np.ndarray
    weights: np.ndarray

    def __len__(self) -> int:
        return int(self.joints.shape[0])


def pose_markers() -> MarkerSet:
    """The 33 MediaPipe Pose landmarks as markers (landmark order)."""
    joints = np.array([joint_index(name) for _, name, _, _ in _POSE], dtype=np.int64)
    offsets = np.array([off for _, _, off, _ in _POSE], dtype=np.float32)
    weights = np.array([w for _, _, _, w in _POSE], dtype=np.float32)
    return MarkerSet(joints, offsets, np.full(len(_POSE), -1, dtype=np.int64), weights)


def hand_markers(side: str) -> MarkerSet:
    """The 21 MediaPipe Hands landmarks of one hand (``left``/``right``) as markers."""
    joints, tips = [], []
    last = ""
    for suffix in _HAND:
        if suffix is None:
            j3 = joint_index(f"{side}_{last}3")
            joints.append(j3)
            tips.append(j3)
            continue
        name = f"{side}_wrist" if suffix == "wrist" else f"{side}_{suffix}"
        last = suffix[:-1] if suffix != "wrist" else last
        joints.append(joint_index(name))
        tips.append(-1)
    n = len(_HAND)
    return MarkerSet(np.array(joints, dtype=np.int64), np.zeros((n, 3), np.float32),
                     np.array(tips, dtype=np.int64), np.ones(n, np.float32))


def concat(*sets: MarkerSet) -> MarkerSet:
    """Join marker sets (order kept)."""
    return MarkerSet(*(np.concatenate([getattr(s, f) for s in sets])
                       for f in ("joints", "offsets", "tip_of", "weights")))


def marker_positions(markers: MarkerSet, rotations: Tensor, positions: Tensor,
                     rest_joints: Tensor, parents: np.ndarray) -> Tensor:
    """Posed marker positions.

    Args:
        markers: the marker set.
        rotations: (B, J, 3, 3) world rotations of the joints.
        positions: (B, J, 3) world positions of the joints, metres.
        rest_joints: (J, 3) rest joints of the person (tips follow its finger bones).
        parents: (J,) parent indices.

    Returns: (B, M, 3) marker positions, metres, in the frame of ``positions``.
    """
    device, dtype = positions.device, positions.dtype
    joints = torch.as_tensor(markers.joints, device=device)
    offsets = torch.as_tensor(markers.offsets, device=device, dtype=dtype).clone()
    tip_rows = np.nonzero(markers.tip_of >= 0)[0]
    if len(tip_rows):
        j3 = markers.tip_of[tip_rows]
        j2 = parents[j3]
        bone = rest_joints[torch.as_tensor(j3, device=device)] - rest_joints[torch.as_tensor(j2, device=device)]
        offsets = offsets.index_put((torch.as_tensor(tip_rows, device=device),), TIP_FRACTION * bone)
    rot = rotations[:, joints]                       # (B, M, 3, 3)
    return positions[:, joints] + (rot @ offsets[None, :, :, None])[..., 0]
