"""Unreal Engine mannequin (UE4 ``SK_Mannequin``, UE5 Manny/Quinn): SMPL-X joint -> bone names.

UE4: root > pelvis > spine_01 > spine_02 > spine_03 > neck_01 > head; spine_03 >
clavicle_l > upperarm_l > lowerarm_l > hand_l > {thumb,index,middle,ring,pinky}_01..03_l;
pelvis > thigh_l > calf_l > foot_l > ball_l. UE5 adds spine_04/05, neck_02 and finger
metacarpals; its candidates come second. Root motion goes on ``pelvis`` (``root`` stays
at the origin).
"""

from __future__ import annotations

LABEL = "Unreal mannequin"

BONES: dict[str, tuple[str, ...]] = {
    "pelvis": ("pelvis",),
    "spine1": ("spine_01",),
    "spine2": ("spine_02", "spine_03"),
    "spine3": ("spine_03", "spine_05"),
    "neck": ("neck_01",),
    "head": ("head",),
    **{f"{side}_{j}": (f"{name}_{s}",) for side, s in (("left", "l"), ("right", "r")) for j, name in (
        ("collar", "clavicle"), ("shoulder", "upperarm"), ("elbow", "lowerarm"), ("wrist", "hand"),
        ("hip", "thigh"), ("knee", "calf"), ("ankle", "foot"), ("foot", "ball"))},
    **{f"{side}_{f}{k}": (f"{f}_0{k}_{s}",) for side, s in (("left", "l"), ("right", "r"))
       for f in ("thumb", "index", "middle", "ring", "pinky") for k in (1, 2, 3)},
}
"""SMPL-X joint name -> Unreal bone names to try, in order. For UE5 (spine_01..05) the
chest maps to spine_05 and the mid spine to spine_03 (tried after the UE4 names, which
exist in both; :func:`addon.retarget.mapping.resolve_preset` keeps each bone once)."""

HIERARCHY: tuple[tuple[str, str | None], ...] = (
    ("root", None), ("pelvis", "root"), ("spine_01", "pelvis"), ("spine_02", "spine_01"),
    ("spine_03", "spine_02"), ("neck_01", "spine_03"), ("head", "neck_01"),
    *((f"{b}_{s}", p) for s in ("l", "r") for b, p in (
        ("clavicle", "spine_03"), ("upperarm", f"clavicle_{s}"), ("lowerarm", f"upperarm_{s}"),
        ("hand", f"lowerarm_{s}"), ("thigh", "pelvis"), ("calf", f"thigh_{s}"), ("foot", f"calf_{s}"),
        ("ball", f"foot_{s}"))),
    *((f"{f}_0{k}_{s}", f"{f}_0{k - 1}_{s}" if k > 1 else f"hand_{s}")
      for s in ("l", "r") for f in ("thumb", "index", "middle", "ring", "pinky") for k in (1, 2, 3)),
)
"""UE4 mannequin bone hierarchy (parent None for the root)."""
