"""Rigify rigs generated from Blender's bundled human metarig: SMPL-X joint -> control bones.

Keys go on the FK controls (``torso``, ``spine_fk.*``, ``neck``, ``head``, ``shoulder.L``,
``upper_arm_fk.L`` ... ``toe_fk.L``, finger controls): the ``DEF-``/``ORG-`` bones are
driven by constraints, so keys on them would be overridden. ``torso`` (the master)
carries the root motion and the pelvis rotation. The limbs are switched to FK
(:data:`SETTINGS`) so the ORG/DEF chains follow the keyed FK controls.
"""

from __future__ import annotations

LABEL = "Rigify"

_FINGERS = (("thumb", "thumb"), ("index", "f_index"), ("middle", "f_middle"), ("ring", "f_ring"),
            ("pinky", "f_pinky"))

BONES: dict[str, tuple[str, ...]] = {
    "pelvis": ("torso",),
    "spine1": ("spine_fk.001",),
    "spine2": ("spine_fk.002",),
    "spine3": ("spine_fk.003",),
    "neck": ("neck",),
    "head": ("head",),
    **{f"{side}_{j}": (f"{name}.{s}",) for side, s in (("left", "L"), ("right", "R")) for j, name in (
        ("collar", "shoulder"), ("shoulder", "upper_arm_fk"), ("elbow", "forearm_fk"), ("wrist", "hand_fk"),
        ("hip", "thigh_fk"), ("knee", "shin_fk"), ("ankle", "foot_fk"), ("foot", "toe_fk"))},
    **{f"{side}_{f}{k}": (f"{name}.0{k}.{s}",) for side, s in (("left", "L"), ("right", "R"))
       for f, name in _FINGERS for k in (1, 2, 3)},
}
"""SMPL-X joint name -> Rigify control bone names."""

SETTINGS: dict[str, dict[str, float]] = {
    f"{limb}_parent.{s}": {"IK_FK": 1.0} for limb in ("upper_arm", "thigh") for s in ("L", "R")
}
"""Custom properties set on the target before baking (pose bone -> property -> value):
IK_FK = 1 puts Rigify's limbs in FK mode."""

SIGNATURE: tuple[str, ...] = ("torso", "upper_arm_parent.L", "thigh_parent.L", "MCH-torso.parent")
"""Bones every generated human Rigify rig has (used to recognise the rig)."""
