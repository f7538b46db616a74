"""VRM humanoid bones (VRM 0.x / 1.0 spec names, and VRoid's ``J_Bip_*`` bone names).

The humanoid names (hips, spine, chest, upperChest, neck, head, leftUpperLeg, ...) are
the spec's; VRoid Studio exports the bones as ``J_Bip_C_Hips``, ``J_Bip_L_UpperArm`` ...
VRM 1.0 thumbs are Metacarpal/Proximal/Distal, VRM 0.x Proximal/Intermediate/Distal.
"""

from __future__ import annotations

LABEL = "VRM humanoid"

_SEGMENTS = {1: ("Proximal",), 2: ("Intermediate",), 3: ("Distal",)}
_THUMB = {1: ("Metacarpal", "Proximal"), 2: ("Proximal", "Intermediate"), 3: ("Distal",)}


def _side(side: str) -> tuple[str, str]:
    return ("left", "L") if side == "left" else ("right", "R")


BONES: dict[str, tuple[str, ...]] = {
    "pelvis": ("hips", "J_Bip_C_Hips", "Hips"),
    "spine1": ("spine", "J_Bip_C_Spine", "Spine"),
    "spine2": ("chest", "J_Bip_C_Chest", "Chest"),
    "spine3": ("upperChest", "J_Bip_C_UpperChest", "UpperChest"),
    "neck": ("neck", "J_Bip_C_Neck", "Neck"),
    "head": ("head", "J_Bip_C_Head", "Head"),
    "jaw": ("jaw",),
    **{f"{side}_{j}": (f"{v}{name}", f"J_Bip_{S}_{name}", f"{name}_{S}")
       for side in ("left", "right") for v, S in (_side(side),) for j, name in (
           ("collar", "Shoulder"), ("shoulder", "UpperArm"), ("elbow", "LowerArm"), ("wrist", "Hand"),
           ("hip", "UpperLeg"), ("knee", "LowerLeg"), ("ankle", "Foot"), ("foot", "Toes"))},
    **{f"{side}_eye": (f"{v}Eye", f"J_Adj_{S}_FaceEye") for side in ("left", "right")
       for v, S in (_side(side),)},
    **{f"{side}_{f}{k}": (*(f"{v}{F}{seg}" for seg in (_THUMB if f == "thumb" else _SEGMENTS)[k]),
                          f"J_Bip_{S}_{F}{k}")
       for side in ("left", "right") for v, S in (_side(side),)
       for f, F in (("thumb", "Thumb"), ("index", "Index"), ("middle", "Middle"), ("ring", "Ring"),
                    ("pinky", "Little")) for k in (1, 2, 3)},
}
"""SMPL-X joint name -> VRM bone names to try, in order (spec name, VRoid name)."""

HIERARCHY: tuple[tuple[str, str | None], ...] = (
    ("hips", None), ("spine", "hips"), ("chest", "spine"), ("upperChest", "chest"),
    ("neck", "upperChest"), ("head", "neck"),
    *((f"{v}{b}", p) for v in ("left", "right") for b, p in (
        ("Shoulder", "upperChest"), ("UpperArm", f"{v}Shoulder"), ("LowerArm", f"{v}UpperArm"),
        ("Hand", f"{v}LowerArm"), ("UpperLeg", "hips"), ("LowerLeg", f"{v}UpperLeg"),
        ("Foot", f"{v}LowerLeg"), ("Toes", f"{v}Foot"))),
    *((f"{v}{F}{seg}", f"{v}{F}{segs[i - 1]}" if i else f"{v}Hand")
      for v in ("left", "right")
      for F, segs in (("Thumb", ("Metacarpal", "Proximal", "Distal")),
                      *((F, ("Proximal", "Intermediate", "Distal"))
                        for F in ("Index", "Middle", "Ring", "Little")))
      for i, seg in enumerate(segs)),
)
"""VRM 1.0 humanoid hierarchy with the spec's names (parent None for the root)."""
