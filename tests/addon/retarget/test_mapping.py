"""Mapping tables, name matching and mapping checks (pure Python; bpy only via conftest)."""

from __future__ import annotations

import pytest

from addon.retarget import mapping, mixamo, names, unreal, vrm
from addon.retarget.smplx_names import SMPLX_JOINT_NAMES, SMPLX_PARENTS
from models import skeleton

pytestmark = pytest.mark.compat42


def _parents(hierarchy, prefix=""):
    return {prefix + b: (prefix + p if p else None) for b, p in hierarchy}


def test_smplx_names_match_models_skeleton():
    assert SMPLX_JOINT_NAMES == skeleton.SMPLX_JOINT_NAMES
    assert SMPLX_PARENTS == skeleton.SMPLX_PARENTS


@pytest.mark.parametrize("module,preset,prefix", [(mixamo, "MIXAMO", "mixamorig:"), (unreal, "UNREAL", ""),
                                                  (vrm, "VRM", "")])
def test_presets_cover_body_and_fingers_and_name_matching_agrees(module, preset, prefix):
    parents = _parents(module.HIERARCHY, prefix)
    found = mapping.resolve_preset(preset, parents)
    assert all(j in found for j in mapping.CORE_JOINTS)
    assert sum(j.startswith(("left_", "right_")) and j[-1].isdigit() for j in found) == 30  # fingers
    assert mapping.detect_preset(parents) == preset
    assert names.auto_match(parents) == found   # no preset needed for these conventions


@pytest.mark.parametrize("name,side,role", [
    ("L_Hip", "left", "hip"), ("thigh.L", "left", "hip"), ("thigh_l", "left", "hip"),
    ("mixamorig:LeftUpLeg", "left", "hip"), ("leftUpperLeg", "left", "hip"), ("J_Bip_L_UpperLeg", "left", "hip"),
    ("Bip01 R Thigh", "right", "hip"), ("RightForeArm", "right", "elbow"), ("lowerarm_r", "right", "elbow"),
    ("DEF-forearm.R", "right", "elbow"), ("calf_l", "left", "knee"), ("J_Bip_C_Hips", "", "pelvis"),
    ("clavicle_r", "right", "clavicle"), ("ball_l", "left", "toe"),
])
def test_parse_sides_and_synonyms(name, side, role):
    parsed = names.parse(name)
    assert parsed is not None and (parsed.side, parsed.role) == (side, role)


@pytest.mark.parametrize("name", ["ik_foot_l", "thigh_twist_01_l", "MCH-thigh_parent.L", "HeadTop_End",
                                  "upper_arm_tweak.L", "mixamorig:LeftToe_End"])
def test_helper_bones_are_not_matched(name):
    assert names.parse(name) is None


def test_generic_names_with_other_conventions():
    """A hand-made rig: L_/R_ prefixes, 'Chest', 'Calf', 'Clavicle', Little fingers, two spine bones."""
    h = [("Root", None), ("Pelvis", "Root"), ("Spine", "Pelvis"), ("Chest", "Spine"), ("Neck", "Chest"),
         ("Head", "Neck")]
    for s in ("L", "R"):
        h += [(f"{s}_Clavicle", "Chest"), (f"{s}_UpperArm", f"{s}_Clavicle"), (f"{s}_Forearm", f"{s}_UpperArm"),
              (f"{s}_Hand", f"{s}_Forearm"), (f"{s}_Thigh", "Pelvis"), (f"{s}_Calf", f"{s}_Thigh"),
              (f"{s}_Foot", f"{s}_Calf"), (f"{s}_Toe", f"{s}_Foot")]
        h += [(f"{s}_Little{k}", f"{s}_Little{k - 1}" if k > 1 else f"{s}_Hand") for k in (1, 2, 3)]
    found = names.auto_match(dict(h))
    assert found["pelvis"] == "Pelvis" and found["spine1"] == "Spine" and found["spine3"] == "Chest"
    assert found["left_collar"] == "L_Clavicle" and found["left_shoulder"] == "L_UpperArm"
    assert found["right_knee"] == "R_Calf" and found["right_ankle"] == "R_Foot" and found["right_foot"] == "R_Toe"
    assert [found[f"left_pinky{k}"] for k in (1, 2, 3)] == ["L_Little1", "L_Little2", "L_Little3"]
    assert "Root" not in found.values()


def test_check_mapping_errors():
    parents = _parents(mixamo.HIERARCHY, "mixamorig:")
    source = {j: j for j in SMPLX_JOINT_NAMES}
    good = mapping.resolve_preset("MIXAMO", parents)
    rows = mapping.check_mapping(good, parents, source)
    assert rows[0] == ("pelvis", "pelvis", "mixamorig:Hips")
    with pytest.raises(mapping.MappingError, match="not in the target"):
        mapping.check_mapping({**good, "head": "NoSuchBone"}, parents, source)
    with pytest.raises(mapping.MappingError, match="mapped twice"):
        mapping.check_mapping({**good, "neck": "mixamorig:Head"}, parents, source)
    with pytest.raises(mapping.MappingError, match="unmapped core joints: left_knee"):
        mapping.check_mapping({**good, "left_knee": ""}, parents, source)
    with pytest.raises(mapping.MappingError, match="not an SMPL-X body"):
        mapping.source_joints({"Bone": None, "Bone.001": "Bone"})
