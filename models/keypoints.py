"""Landmark sets (MediaPipe Pose 33, MediaPipe Hands 21) and where they sit on the SMPL-X skeleton.

Each landmark that the body model can explain is a :class:`LandmarkTarget`: a point
rigidly attached to one SMPL-X joint, at that joint plus

* ``offset``: metres in the joint's rest frame (model axes: x the body's left, y up,
  z forward) -- for landmarks that are not joints (nose, ears, heels, toe tips), and
* ``extend * (J[joint] - J[extend_from])``: the bone from ``extend_from`` to ``joint``
  continued by that fraction in the rest pose -- for fingertips, so they scale with the
  hand (betas).

``weight`` (0..1) says how well the landmark matches its model point: 1 for joint
centres that MediaPipe and SMPL-X both mean (elbows, wrists, knees, ankles, finger
joints), lower where the definitions differ (MediaPipe's hip landmarks sit higher and
wider than SMPL-X's femoral-head hip joints; face points are fixed offsets from the head
joint; the Pose model's rough hand points). Fitters multiply it with the detector's
confidence.

Offsets are given for the left side and mirrored (x -> -x) for the right. They are
adult approximations, constant in betas; calibrate against ground-truth samples if a
term needs better.

MediaPipe's "left"/"right" are the person's own (anatomical) sides. MediaPipe Pose
world landmarks (``body_3d``) are centred on the midpoint of its two hip landmarks:
use :func:`mediapipe_hip_centre` on model points to compare in the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from models.skeleton import MANO_JOINT_NAMES, SMPLX_JOINT_NAMES

POSE_LANDMARK_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
    "left_foot_index", "right_foot_index",
)
"""The 33 MediaPipe Pose (BlazePose) landmarks, in MediaPipe's order."""

HAND_LANDMARK_NAMES: tuple[str, ...] = (
    "wrist", "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip", "index_mcp", "index_pip", "index_dip",
    "index_tip", "middle_mcp", "middle_pip", "middle_dip", "middle_tip", "ring_mcp", "ring_pip",
    "ring_dip", "ring_tip", "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)
"""The 21 MediaPipe Hands landmarks, in MediaPipe's order."""


@dataclass(frozen=True)
class LandmarkTarget:
    """Where one landmark sits on the body model (see the module docstring)."""

    landmark: int
    joint: int
    weight: float = 1.0
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    extend_from: int = -1
    extend: float = 0.0


def _mirror(offset: tuple[float, float, float]) -> tuple[float, float, float]:
    return (-offset[0], offset[1], offset[2])


def _pose_targets() -> tuple[LandmarkTarget, ...]:
    lm, jn = POSE_LANDMARK_NAMES.index, SMPLX_JOINT_NAMES.index
    targets = [
        # face, on the head joint (skull base): metres, model axes
        LandmarkTarget(lm("nose"), jn("head"), 0.5, (0.0, 0.005, 0.105)),
    ]
    for side in ("left", "right"):
        def off(o: tuple[float, float, float], side: str = side) -> tuple[float, float, float]:
            return o if side == "left" else _mirror(o)

        targets += [
            # the eye landmark is on the pupil, 1 cm in front of the eyeball centre (the eye joint)
            LandmarkTarget(lm(f"{side}_eye"), jn(f"{side}_eye"), 0.5, (0.0, 0.0, 0.010)),
            LandmarkTarget(lm(f"{side}_ear"), jn("head"), 0.3, off((0.072, 0.020, -0.005))),
            LandmarkTarget(lm(f"mouth_{side}"), jn("head"), 0.2, off((0.024, -0.040, 0.090))),
            LandmarkTarget(lm(f"{side}_shoulder"), jn(f"{side}_shoulder"), 1.0),
            LandmarkTarget(lm(f"{side}_elbow"), jn(f"{side}_elbow"), 1.0),
            LandmarkTarget(lm(f"{side}_wrist"), jn(f"{side}_wrist"), 1.0),
            # the Pose model's rough hand points (the Hands landmarks are the precise ones)
            LandmarkTarget(lm(f"{side}_index"), jn(f"{side}_index1"), 0.3),
            LandmarkTarget(lm(f"{side}_pinky"), jn(f"{side}_pinky1"), 0.3),
            LandmarkTarget(lm(f"{side}_thumb"), jn(f"{side}_thumb2"), 0.2),
            # MediaPipe hips: about 3 cm higher and 2 cm wider than the SMPL-X hip joints
            LandmarkTarget(lm(f"{side}_hip"), jn(f"{side}_hip"), 0.5, off((0.020, 0.030, 0.0))),
            LandmarkTarget(lm(f"{side}_knee"), jn(f"{side}_knee"), 1.0),
            LandmarkTarget(lm(f"{side}_ankle"), jn(f"{side}_ankle"), 1.0),
            # heel: below and behind the ankle joint; toe tip: ahead of the ball-of-foot joint
            LandmarkTarget(lm(f"{side}_heel"), jn(f"{side}_ankle"), 0.5, off((0.0, -0.060, -0.050))),
            LandmarkTarget(lm(f"{side}_foot_index"), jn(f"{side}_foot"), 0.5, off((0.0, -0.020, 0.055))),
        ]
    return tuple(sorted(targets, key=lambda t: t.landmark))


POSE_TARGETS: tuple[LandmarkTarget, ...] = _pose_targets()
"""MediaPipe Pose landmark -> SMPL-X joint (29 of 33; the inner/outer eye corners are left out)."""

_HAND_CHAINS = {  # MediaPipe finger landmarks (base..tip) -> model finger name
    "thumb": (1, 2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16), "pinky": (17, 18, 19, 20),
}
FINGERTIP_EXTEND: dict[str, float] = {
    "thumb": 0.85, "index": 0.95, "middle": 0.95, "ring": 0.95, "pinky": 0.95}
"""Fingertip = the last joint + this fraction of the (second-to-last -> last joint) bone,
continued: the distal phalanx plus the pad, as long as the middle phalanx (thumb: shorter)."""


def _hand_targets(joint_of: dict[str, int]) -> tuple[LandmarkTarget, ...]:
    targets = [LandmarkTarget(0, joint_of["wrist"], 1.0)]
    for finger, (a, b, c, tip) in _HAND_CHAINS.items():
        j1, j2, j3 = joint_of[f"{finger}1"], joint_of[f"{finger}2"], joint_of[f"{finger}3"]
        # thumb_cmc is the carpometacarpal joint: SMPL-X/MANO thumb1 sits there but is less exact
        targets += [LandmarkTarget(a, j1, 0.7 if finger == "thumb" else 1.0), LandmarkTarget(b, j2, 1.0),
                    LandmarkTarget(c, j3, 1.0),
                    LandmarkTarget(tip, j3, 0.8, extend_from=j2, extend=FINGERTIP_EXTEND[finger])]
    return tuple(sorted(targets, key=lambda t: t.landmark))


def hand_targets(side: str) -> tuple[LandmarkTarget, ...]:
    """MediaPipe Hands 21 -> the SMPL-X joints of the ``left``/``right`` hand (wrist + 15)."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    joint_of = {name[len(side) + 1:]: i for i, name in enumerate(SMPLX_JOINT_NAMES)
                if name.startswith(side + "_")}
    return _hand_targets(joint_of)


MANO_HAND_TARGETS: tuple[LandmarkTarget, ...] = _hand_targets({n: i for i, n in enumerate(MANO_JOINT_NAMES)})
"""MediaPipe Hands 21 -> the 16 MANO joints (hands-only models)."""


@dataclass(frozen=True)
class LandmarkMap:
    """A landmark set's targets as arrays, and their positions on a posed model.

    landmarks (N,) landmark indices; joints (N,); weights (N,); offsets (N, 3);
    extend_from (N,) (-1: none); extend (N,).
    """

    landmarks: np.ndarray
    joints: np.ndarray
    weights: np.ndarray
    offsets: np.ndarray
    extend_from: np.ndarray
    extend: np.ndarray

    @classmethod
    def from_targets(cls, targets: tuple[LandmarkTarget, ...]) -> LandmarkMap:
        return cls(landmarks=np.array([t.landmark for t in targets], np.int64),
                   joints=np.array([t.joint for t in targets], np.int64),
                   weights=np.array([t.weight for t in targets], np.float32),
                   offsets=np.array([t.offset for t in targets], np.float32).reshape(-1, 3),
                   extend_from=np.array([t.extend_from for t in targets], np.int64),
                   extend=np.array([t.extend for t in targets], np.float32))

    def local_offsets(self, rest_joints: Tensor) -> Tensor:
        """(B, J, 3) rest joints -> (B, N, 3) offset of each point from its joint (rest frame)."""
        offsets = torch.as_tensor(self.offsets, dtype=rest_joints.dtype, device=rest_joints.device)
        out = offsets.expand(rest_joints.shape[0], -1, -1)
        has = self.extend_from >= 0
        if has.any():
            idx = np.nonzero(has)[0]
            bone = rest_joints[:, self.joints[idx]] - rest_joints[:, self.extend_from[idx]]
            scale = torch.as_tensor(self.extend[idx], dtype=rest_joints.dtype, device=rest_joints.device)
            out = out.clone()
            out[:, idx] = out[:, idx] + bone * scale[:, None]
        return out

    def points(self, transforms: Tensor, rest_joints: Tensor) -> Tensor:
        """Model points of the landmarks, differentiable.

        Args: transforms (B, J, 4, 4) joint world transforms (BodyOutput.transforms);
        rest_joints (B, J, 3) the rest joints used for them.
        Returns: (B, N, 3) in the frame of the transforms (camera frame), row k for
        landmark ``landmarks[k]``.
        """
        g = transforms[:, self.joints]                       # (B, N, 4, 4)
        local = self.local_offsets(rest_joints)
        return (g[..., :3, :3] @ local[..., None])[..., 0] + g[..., :3, 3]

    def gather(self, landmarks: Tensor) -> Tensor:
        """(B, L, D) landmark array -> (B, N, D) the rows this map explains, in its order."""
        return landmarks[:, torch.as_tensor(self.landmarks, device=landmarks.device)]

    def rows(self, landmarks: tuple[int, ...] | list[int]) -> list[int]:
        """Row of each given landmark index in this map (ValueError if it is not mapped)."""
        found = []
        for lm in landmarks:
            hit = np.nonzero(self.landmarks == lm)[0]
            if len(hit) == 0:
                raise ValueError(f"landmark {lm} is not in this map")
            found.append(int(hit[0]))
        return found

    def scatter(self, points: np.ndarray, num_landmarks: int) -> np.ndarray:
        """(..., N, D) rows of this map -> (..., num_landmarks, D) landmark array, NaN where unmapped
        (what a detector that saw exactly the model points would report; NaN = unknown)."""
        out = np.full((*points.shape[:-2], num_landmarks, points.shape[-1]), np.nan, dtype=points.dtype)
        out[..., self.landmarks, :] = points
        return out

    @classmethod
    def concat(cls, *maps: LandmarkMap) -> LandmarkMap:
        """One map evaluating the rows of several (in order), e.g. body + both hands in one gather."""
        return cls(*(np.concatenate([getattr(m, f) for m in maps]) for f in
                     ("landmarks", "joints", "weights", "offsets", "extend_from", "extend")))


POSE_MAP = LandmarkMap.from_targets(POSE_TARGETS)
LEFT_HAND_MAP = LandmarkMap.from_targets(hand_targets("left"))
RIGHT_HAND_MAP = LandmarkMap.from_targets(hand_targets("right"))
MANO_HAND_MAP = LandmarkMap.from_targets(MANO_HAND_TARGETS)


def mediapipe_hip_centre(pose_points: Tensor) -> Tensor:
    """(B, N, 3) points of :data:`POSE_MAP` -> (B, 3) midpoint of the two hip landmarks (the
    origin of MediaPipe's world landmarks)."""
    rows = [int(np.nonzero(POSE_MAP.landmarks == POSE_LANDMARK_NAMES.index(n))[0][0])
            for n in ("left_hip", "right_hip")]
    return 0.5 * (pose_points[:, rows[0]] + pose_points[:, rows[1]])
