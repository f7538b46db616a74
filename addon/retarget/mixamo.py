"""Mixamo rigs (``mixamorig:Hips`` ...): SMPL-X joint -> candidate bone names.

Mixamo's published skeleton: Hips > Spine > Spine1 > Spine2 > Neck > Head; Spine2 >
{Left,Right}Shoulder > Arm > ForeArm > Hand > Hand{Thumb,Index,Middle,Ring,Pinky}1..4;
Hips > {Left,Right}UpLeg > Leg > Foot > ToeBase > Toe_End. Bones come with the
``mixamorig:`` prefix (sometimes ``mixamorig1:`` ... or none); candidates cover both.
"""

from __future__ import annotations

LABEL = "Mixamo"

_SIDES = (("left", "Left"), ("right", "Right"))
_FINGERS = (("thumb", "Thumb"), ("index", "Index"), ("middle", "Middle"), ("ring", "Ring"),
            ("pinky", "Pinky"))

_PLAIN: dict[str, str] = {
    "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2",
    "neck": "Neck", "head": "Head",
    **{f"{s}_{j}": f"{S}{m}" for s, S in _SIDES for j, m in (
        ("collar", "Shoulder"), ("shoulder", "Arm"), ("elbow", "ForeArm"), ("wrist", "Hand"),
        ("hip", "UpLeg"), ("knee", "Leg"), ("ankle", "Foot"), ("foot", "ToeBase"), ("eye", "Eye"))},
    **{f"{s}_{f}{k}": f"{S}Hand{F}{k}" for s, S in _SIDES for f, F in _FINGERS for k in (1, 2, 3)},
}

BONES: dict[str, tuple[str, ...]] = {
    joint: (f"mixamorig:{name}", f"mixamorig1:{name}", f"mixamorig2:{name}", name)
    for joint, name in _PLAIN.items()
}
"""SMPL-X joint name -> Mixamo bone names to try, in order."""

HIERARCHY: tuple[tuple[str, str | None], ...] = (
    ("Hips", None), ("Spine", "Hips"), ("Spine1", "Spine"), ("Spine2", "Spine1"),
    ("Neck", "Spine2"), ("Head", "Neck"), ("HeadTop_End", "Head"),
    *((f"{S}{b}", p) for S in ("Left", "Right") for b, p in (
        ("Shoulder", "Spine2"), ("Arm", f"{S}Shoulder"), ("ForeArm", f"{S}Arm"), ("Hand", f"{S}ForeArm"),
        ("UpLeg", "Hips"), ("Leg", f"{S}UpLeg"), ("Foot", f"{S}Leg"), ("ToeBase", f"{S}Foot"),
        ("Toe_End", f"{S}ToeBase"))),
    *((f"{S}Hand{F}{k}", f"{S}Hand{F}{k - 1}" if k > 1 else f"{S}Hand")
      for S in ("Left", "Right") for _, F in _FINGERS for k in (1, 2, 3, 4)),
)
"""Mixamo's published bone hierarchy (names without the ``mixamorig:`` prefix; parent
None for the root), for building test rigs and checking the table."""
