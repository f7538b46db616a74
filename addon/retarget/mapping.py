"""Bone mappings: SMPL-X joint -> target bone, from vendor presets or automatic matching.

Pure Python (no bpy): armatures are described by ``parents`` (bone -> parent bone or
None). The operator stores the chosen mapping on the target armature
(:mod:`addon.retarget.props`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from . import mixamo, rigify, unreal, vrm
from .names import auto_match
from .smplx_names import SMPLX_JOINT_NAMES

PRESETS: dict[str, ModuleType] = {"MIXAMO": mixamo, "RIGIFY": rigify, "UNREAL": unreal, "VRM": vrm}
"""Preset id -> module with LABEL and BONES (SMPL-X joint -> candidate bone names)."""

CORE_JOINTS: tuple[str, ...] = (
    "pelvis", "spine1", "neck", "head", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_ankle", "right_ankle", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist",
)
"""Joints a usable mapping must cover (a body without them cannot be retargeted)."""


class MappingError(ValueError):
    """A mapping that cannot drive a retarget (message is shown to the user)."""


def resolve_preset(preset: str, bones: Mapping[str, object]) -> dict[str, str]:
    """SMPL-X joint -> bone for the preset's candidates present in ``bones``.

    Each bone is used at most once (the first joint in SMPL-X order that names it wins).
    """
    if preset not in PRESETS:
        raise MappingError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    table = PRESETS[preset].BONES
    used: set[str] = set()
    result: dict[str, str] = {}
    for joint in SMPLX_JOINT_NAMES:
        for candidate in table.get(joint, ()):
            if candidate in bones and candidate not in used:
                result[joint] = candidate
                used.add(candidate)
                break
    return result


def detect_preset(bones: Mapping[str, object]) -> str | None:
    """The preset whose core joints are all present in ``bones`` (most joints wins), or None."""
    best, best_count = None, 0
    for preset in PRESETS:
        found = resolve_preset(preset, bones)
        if all(j in found for j in CORE_JOINTS) and len(found) > best_count:
            best, best_count = preset, len(found)
    return best


def build_mapping(parents: Mapping[str, str | None], preset: str = "AUTO",
                  deform: Mapping[str, bool] | None = None) -> dict[str, str]:
    """SMPL-X joint -> bone for an armature.

    Args:
        parents: bone -> parent bone (None for roots), every bone of the armature.
        preset: a key of :data:`PRESETS`, ``AUTO`` (detected preset, else name matching)
            or ``NAMES`` (name matching only).
        deform: bone -> use_deform, used by name matching to break ties.
    """
    if preset == "AUTO":
        detected = detect_preset(parents)
        return resolve_preset(detected, parents) if detected else auto_match(parents, deform)
    if preset == "NAMES":
        return auto_match(parents, deform)
    return resolve_preset(preset, parents)


def check_mapping(mapping: Mapping[str, str], target_bones: Mapping[str, object],
                  source_bones: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """Validate a mapping and return (joint, source bone, target bone) rows in SMPL-X order.

    Args:
        mapping: SMPL-X joint -> target bone ("" = unmapped).
        target_bones: the target armature's bones (names as keys).
        source_bones: SMPL-X joint -> source armature bone.

    Raises:
        MappingError: a joint unknown, a bone missing, a bone used twice, or core joints unmapped.
    """
    rows: list[tuple[str, str, str]] = []
    seen: dict[str, str] = {}
    for joint, bone in mapping.items():
        if not bone:
            continue
        if joint not in SMPLX_JOINT_NAMES:
            raise MappingError(f"'{joint}' is not an SMPL-X joint")
        if bone not in target_bones:
            raise MappingError(f"bone '{bone}' (for {joint}) is not in the target armature")
        if bone in seen:
            raise MappingError(f"bone '{bone}' is mapped twice ({seen[bone]} and {joint})")
        seen[bone] = joint
    missing = [j for j in CORE_JOINTS if not mapping.get(j)]
    if missing:
        raise MappingError(f"unmapped core joints: {', '.join(missing)}; map them in the bone list "
                           f"or choose another preset")
    for joint in SMPLX_JOINT_NAMES:
        bone = mapping.get(joint)
        if bone:
            if joint not in source_bones:
                raise MappingError(f"the source armature has no bone for {joint}")
            rows.append((joint, source_bones[joint], bone))
    return rows


def source_joints(parents: Mapping[str, str | None]) -> dict[str, str]:
    """SMPL-X joint -> bone of a captured (SMPL-X) armature: exact names first, then matching."""
    exact = {j: j for j in SMPLX_JOINT_NAMES if j in parents}
    if len(exact) >= len(CORE_JOINTS) and all(j in exact for j in CORE_JOINTS):
        return exact
    matched = auto_match(parents)
    if not all(j in matched for j in CORE_JOINTS):
        raise MappingError("the source armature is not an SMPL-X body (pelvis, legs, arms and head "
                           "bones not found)")
    return matched
