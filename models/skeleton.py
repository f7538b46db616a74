"""The SMPL-X skeleton: joint names, hierarchy and the name maps of other skeletons.

Pure Python/numpy (no torch): shared by ``models``, ``core``, ``samples`` and the
tests. Joint order and names are those of the ``smplx`` package
(``smplx.joint_names.JOINT_NAMES[:55]``), except the eyes, which are named
``left_eye``/``right_eye`` here and map to smplx's ``*_eye_smplhf``.
"""

from __future__ import annotations

import numpy as np

SMPLX_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw", "left_eye", "right_eye",
    "left_index1", "left_index2", "left_index3", "left_middle1", "left_middle2", "left_middle3",
    "left_pinky1", "left_pinky2", "left_pinky3", "left_ring1", "left_ring2", "left_ring3",
    "left_thumb1", "left_thumb2", "left_thumb3",
    "right_index1", "right_index2", "right_index3", "right_middle1", "right_middle2", "right_middle3",
    "right_pinky1", "right_pinky2", "right_pinky3", "right_ring1", "right_ring2", "right_ring3",
    "right_thumb1", "right_thumb2", "right_thumb3",
)
"""55 SMPL-X joints: pelvis, 21 body (1..21), jaw (22), eyes (23, 24), 15 left hand, 15 right hand."""

SMPLX_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)
"""Parent index of each joint (-1 for the root), as in the official SMPL-X model's kintree."""

NUM_JOINTS = 55
BODY_JOINTS = slice(1, 22)          # body_pose rows 0..20 are joints 1..21
JAW, LEFT_EYE, RIGHT_EYE = 22, 23, 24
LEFT_HAND_JOINTS = slice(25, 40)    # left_hand_pose rows 0..14
RIGHT_HAND_JOINTS = slice(40, 55)   # right_hand_pose rows 0..14
LEFT_WRIST, RIGHT_WRIST = 20, 21

SMPLX_PACKAGE_NAMES: dict[str, str] = {"left_eye": "left_eye_smplhf", "right_eye": "right_eye_smplhf"}
"""Names that differ in ``smplx.joint_names.JOINT_NAMES``."""

MANNEQUIN_TO_SMPLX: dict[str, str] = {
    "Pelvis": "pelvis", "L_Hip": "left_hip", "R_Hip": "right_hip", "Spine1": "spine1",
    "L_Knee": "left_knee", "R_Knee": "right_knee", "Spine2": "spine2", "L_Ankle": "left_ankle",
    "R_Ankle": "right_ankle", "Spine3": "spine3", "L_Foot": "left_foot", "R_Foot": "right_foot",
    "Neck": "neck", "L_Collar": "left_collar", "R_Collar": "right_collar", "Head": "head",
    "L_Shoulder": "left_shoulder", "R_Shoulder": "right_shoulder", "L_Elbow": "left_elbow",
    "R_Elbow": "right_elbow", "L_Wrist": "left_wrist", "R_Wrist": "right_wrist",
    **{f"{s}_{f}{k}": f"{side}_{f.lower()}{k}"
       for s, side in (("L", "left"), ("R", "right"))
       for f in ("Index", "Middle", "Pinky", "Ring", "Thumb") for k in (1, 2, 3)},
}
"""mannequin-x joint name -> SMPL-X name. mannequin-x has no jaw/eyes and has extra
rigid ``L_Hand``/``R_Hand`` joints (children of the wrists) that carry the fingers."""

MANO_JOINT_NAMES: tuple[str, ...] = (
    "wrist", "index1", "index2", "index3", "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3", "ring1", "ring2", "ring3", "thumb1", "thumb2", "thumb3",
)
MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)


def parents_array() -> np.ndarray:
    """(55,) int64 parent indices."""
    return np.asarray(SMPLX_PARENTS, dtype=np.int64)


def joint_index(name: str) -> int:
    """Index of an SMPL-X joint by name (accepts smplx's ``*_eye_smplhf`` spelling)."""
    for ours, theirs in SMPLX_PACKAGE_NAMES.items():
        if name == theirs:
            name = ours
    return SMPLX_JOINT_NAMES.index(name)
