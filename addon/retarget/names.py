"""Automatic bone-name matching: any humanoid armature's bone names -> SMPL-X joints.

Pure Python (no bpy). A bone name is split into a side (left/right/centre) and a role
after normalising case, prefixes (``mixamorig:``, ``DEF-``, ``J_Bip_``, ``Bip01`` ...),
side conventions (``L_``, ``.L``, ``_l``, ``Left``, ``left_``) and synonyms
(thigh/upleg/upperleg, calf/shin/leg/lowerleg, clavicle/collar, little/pinky ...).
Spine bones are assigned along the chain from the hips to the neck; finger segments in
hierarchy order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .smplx_names import FINGERS

_PREFIX = re.compile(r"^(?:mixamorig\d*[:_]|def[-_.]|org[-_.]|j_bip_c_|j_bip_|j_adj_|bip\d*[ _]|cc_base_|"
                     r"armature[|:]|skeleton[|:]|rig[|:]|valvebiped\.bip01_)", re.IGNORECASE)
_SKIP = re.compile(r"(?:^|[^a-z])(?:ik|mch|tweak|pole|target|twist|roll|nub|end|tip|socket|ctrl|"
                   r"vis|helper|ref|offset|null|parent|master|drv|bend|corrective|prop|weapon)(?:[^a-z]|$)",
                   re.IGNORECASE)
_SIDE_PATTERNS = (
    (re.compile(r"^(left|right)(?=[A-Z_.\- ]|$)"), 1),        # LeftArm, left_arm, leftUpperArm
    (re.compile(r"^(l|r)(?=[_.\- ])", re.IGNORECASE), 1),      # L_Hip, l_arm, R.arm
    (re.compile(r"^(L|R)(?=[A-Z][a-z])"), 1),                   # LThigh
    (re.compile(r"[_.\- ](l|r|left|right)$", re.IGNORECASE), 1),  # thigh.L, thigh_l, arm_left
    (re.compile(r"(Left|Right)"), 1),                           # HandLeftIndex, Bip01 L Thigh
    (re.compile(r"^(left|right)", re.IGNORECASE), 1),
)

# role -> regex over the normalised core (lowercase, no separators, no side)
_ROLES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((role, re.compile(rx)) for role, rx in (
    ("pelvis", r"^(hips?|pelvis|root_?hips)$"),
    ("spine", r"^(spine\d*|chest|upperchest|torso|abdomen|abdomenlower|abdomenupper|back|spine0\d)$"),
    ("neck", r"^neck\d*$|^neck0\d$"),
    ("head", r"^head$"),
    ("jaw", r"^jaw$"),
    ("eye", r"^(eye|faceeye)$"),
    ("clavicle", r"^(clavicle|collar|collarbone)$"),
    ("shoulder", r"^shoulder$"),
    ("upperarm", r"^(upperarm|arm|uparm|upperarm0?1)$"),
    ("elbow", r"^(forearm|lowerarm|elbow|lowarm)$"),
    ("wrist", r"^(hand|wrist)$"),
    ("hip", r"^(upleg|upperleg|thigh|hip|upperleg0?1)$"),
    ("knee", r"^(leg|lowerleg|shin|calf|knee|lowleg)$"),
    ("ankle", r"^(ankle)$"),
    ("foot", r"^(foot)$"),
    ("toe", r"^(toebase|toes?|ball|toe0?1)$"),
))
_FINGER = re.compile(r"^(?:f)?(?:hand)?(thumb|index|middle|mid|ring|pinky|little|pinkie)"
                     r"(metacarpal|proximal|intermediate|distal|0?\d)?(?:0?\d)?$")


@dataclass(frozen=True)
class ParsedName:
    """A bone name understood: side ('left', 'right' or ''), role and finger segment hint."""

    side: str
    role: str
    finger: str = ""
    segment: int = 0


def _strip_prefix(name: str) -> str:
    previous = None
    while previous != name:
        previous = name
        name = _PREFIX.sub("", name)
    return name


def parse(name: str) -> ParsedName | None:
    """Side and role of a bone name, or None if it names no humanoid joint we know.

    Roles: pelvis, spine, neck, head, jaw, eye, clavicle, shoulder, upperarm, elbow,
    wrist, hip, knee, ankle, foot, toe, finger (with ``finger`` and ``segment``).
    ``shoulder`` and ``foot`` are ambiguous (SMPL-X's shoulder is the upper arm, its foot
    the toes) and are settled by :func:`auto_match` from the other names present.
    """
    base = _strip_prefix(name.strip())
    base = re.sub(r"\.\d{3}$", "", base) if not re.search(r"\.\d{3}\.[LR]$", base) else base
    if re.search(r"\.\d{3}(\.[LR])?$", base):
        return None  # Blender duplicates / Rigify segment copies (DEF-thigh.L.001)
    if _SKIP.search(re.sub(r"([a-z])([A-Z])", r"\1_\2", base)):
        return None
    side = ""
    for pattern, group in _SIDE_PATTERNS:
        match = pattern.search(base)
        if match:
            token = match.group(group).lower()
            side = "left" if token in ("l", "left") else "right"
            base = base[:match.start(group)] + base[match.end(group):]
            break
    core = re.sub(r"[^a-z0-9]", "", base.lower())
    finger = _FINGER.match(core)
    if finger:
        kind = {"mid": "middle", "little": "pinky", "pinkie": "pinky"}.get(finger.group(1), finger.group(1))
        seg_token = finger.group(2) or ""
        digits = re.findall(r"\d", core)
        segment = {"metacarpal": 0, "proximal": 1, "intermediate": 2, "distal": 3}.get(
            seg_token, int(digits[-1]) if digits else 0)
        return ParsedName(side, "finger", kind, segment)
    for role, pattern in _ROLES:
        if role == "pelvis" and side:
            continue  # a sided "hip" is the thigh joint (SMPL-X L_Hip / left_hip)
        if pattern.match(core):
            return ParsedName(side, role)
    return None


def auto_match(parents: Mapping[str, str | None], deform: Mapping[str, bool] | None = None) -> dict[str, str]:
    """Match an armature's bones to SMPL-X joints by name.

    Args:
        parents: bone name -> parent bone name (None for roots), for every bone.
        deform: bone name -> use_deform; deforming bones win ties. Optional.

    Returns:
        SMPL-X joint name -> bone name, for the joints that could be matched.
    """
    deform = deform or {}
    depth: dict[str, int] = {}

    def depth_of(bone: str) -> int:
        if bone not in depth:
            parent = parents.get(bone)
            depth[bone] = 0 if parent is None or parent not in parents else depth_of(parent) + 1
        return depth[bone]

    parsed = {bone: p for bone in parents if (p := parse(bone)) is not None}
    roles = {(p.side, p.role) for p in parsed.values()}
    has_clavicle = any(role == "clavicle" for _, role in roles)
    has_ankle = any(role == "ankle" for _, role in roles)
    has_upperarm = any(role == "upperarm" for _, role in roles)

    def joint_for(p: ParsedName) -> str | None:
        sided = p.side in ("left", "right")
        role = p.role
        if role == "shoulder":
            role = "upperarm" if has_clavicle or not has_upperarm else "clavicle"
        if role == "foot":
            role = "toe" if has_ankle else "ankle"
        table = {"clavicle": "collar", "upperarm": "shoulder", "elbow": "elbow", "wrist": "wrist",
                 "hip": "hip", "knee": "knee", "ankle": "ankle", "toe": "foot", "eye": "eye"}
        if role in table:
            return f"{p.side}_{table[role]}" if sided else None
        if role in ("pelvis", "neck", "head", "jaw") and not sided:
            return role
        return None

    def better(a: str, b: str) -> str:
        key = lambda bone: (not deform.get(bone, True), depth_of(bone), len(bone))  # noqa: E731
        return min(a, b, key=key)

    result: dict[str, str] = {}
    for bone, p in parsed.items():
        joint = joint_for(p)
        if joint is not None:
            result[joint] = better(result[joint], bone) if joint in result else bone

    # spine: bones between the pelvis and the neck, in chain order
    spine = sorted((b for b, p in parsed.items() if p.role == "spine" and not p.side), key=depth_of)
    if "pelvis" in result:
        spine = [b for b in spine if _is_ancestor(result["pelvis"], b, parents)]
    if "neck" in result:
        spine = [b for b in spine if _is_ancestor(b, result["neck"], parents)]
    if spine:
        picks = {1: [0], 2: [0, 1]}.get(len(spine), [0, len(spine) // 2, len(spine) - 1])
        names = ("spine1", "spine3") if len(picks) == 2 else ("spine1", "spine2", "spine3")
        for joint, index in zip(names, picks):
            result[joint] = spine[index]

    # fingers: per side and finger, skip metacarpals of the four fingers, keep 3 in depth order
    for side in ("left", "right"):
        for finger in FINGERS:
            bones = [b for b, p in parsed.items()
                     if p.role == "finger" and p.side == side and p.finger == finger
                     and not (finger != "thumb" and p.segment == 0 and "metacarpal" in b.lower())]
            bones.sort(key=lambda b: (depth_of(b), parsed[b].segment))
            chain = _longest_chain(bones, parents)
            for k, bone in enumerate(chain[:3], start=1):
                result[f"{side}_{finger}{k}"] = bone
    return result


def _is_ancestor(ancestor: str, bone: str, parents: Mapping[str, str | None]) -> bool:
    current = parents.get(bone)
    while current is not None:
        if current == ancestor:
            return True
        current = parents.get(current)
    return False


def _longest_chain(bones: list[str], parents: Mapping[str, str | None]) -> list[str]:
    """The candidates that form one parent->child chain (the deepest one), root first."""
    if not bones:
        return []
    best: list[str] = []
    for tip in bones:
        chain = [b for b in bones if b == tip or _is_ancestor(b, tip, parents)]
        if len(chain) > len(best):
            best = chain
    return best
