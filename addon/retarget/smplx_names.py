"""SMPL-X joint names and hierarchy as the add-on sees them (the keys of every mapping table).

The add-on never imports ``models``; this copy is checked against
``models.skeleton`` by ``tests/addon/retarget/test_mapping.py``.
"""

from __future__ import annotations

SMPLX_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw", "left_eye", "right_eye",
    *(f"{side}_{finger}{k}" for side in ("left", "right")
      for finger in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)),
)
"""55 joints in smplx order: pelvis, 21 body, jaw, eyes, 15 left hand, 15 right hand."""

SMPLX_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)
"""Parent index per joint (-1 for the root)."""

FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")

END_EFFECTORS: tuple[str, ...] = ("left_wrist", "right_wrist", "left_ankle", "right_ankle", "head")
"""Joints whose positions the quality metrics compare (hands, feet, head)."""

FOOT_JOINTS: tuple[str, ...] = ("left_ankle", "right_ankle", "left_foot", "right_foot")
"""Ankles and toes (SMPL-X ``*_foot`` is the toe joint): the points foot sliding is measured on."""


def parent_name(joint: str) -> str | None:
    """Parent joint name of an SMPL-X joint, or None for the pelvis."""
    p = SMPLX_PARENTS[SMPLX_JOINT_NAMES.index(joint)]
    return None if p < 0 else SMPLX_JOINT_NAMES[p]


def depth(joint: str) -> int:
    """Number of ancestors of an SMPL-X joint (pelvis: 0)."""
    d, j = 0, SMPLX_JOINT_NAMES.index(joint)
    while SMPLX_PARENTS[j] >= 0:
        j = SMPLX_PARENTS[j]
        d += 1
    return d
