"""Rigs for the retarget tests, all built here with real bpy (nothing downloaded):

* ``smplx_source``: a captured SMPL-X avatar (``addon.rig.build_avatar``) doing a squat
  with planted feet (two-bone IK on its own legs), spine twist, head nod, arm waves and
  finger curls, keyed through ``addon.keys``.
* ``mixamo_rig``: an armature with Mixamo's published bone names and hierarchy
  (``mixamorig:`` prefix), other proportions (longer legs, thigh/shin ratio changed),
  A-pose arms, random bone rolls, imported-FBX layout (Y-up centimetres, object rotated
  +90 deg about X and scaled 0.01).
* ``rigify_rig``: the real Rigify rig generated from Blender's bundled human metarig.
"""

from __future__ import annotations

import math

import addon_utils
import bpy
import numpy as np
import pytest
from mathutils import Matrix, Vector

from addon import keys, rig
from addon.retarget import mixamo
from addon.retarget.smplx_names import SMPLX_JOINT_NAMES, SMPLX_PARENTS

# Rest joints of the neutral SMPL-X-compatible body (mannequin-x 0.3.0, betas = 0, flat
# hands), metres, model frame (y up, facing +z); jaw/eyes placed on the head.
SMPLX_REST = np.array([
    [0.003, -0.351, 0.012], [0.061, -0.444, -0.014], [-0.06, -0.455, -0.009], [0.0, -0.242, -0.016],
    [0.116, -0.823, -0.023], [-0.104, -0.818, -0.026], [0.01, -0.11, -0.022], [0.073, -1.226, -0.055],
    [-0.089, -1.228, -0.046], [-0.002, -0.057, 0.007], [0.12, -1.284, 0.063], [-0.128, -1.287, 0.073],
    [-0.014, 0.108, -0.025], [0.045, 0.028, -0.0], [-0.049, 0.027, -0.006], [0.011, 0.268, -0.004],
    [0.164, 0.085, -0.016], [-0.152, 0.08, -0.019], [0.418, 0.013, -0.058], [-0.423, 0.044, -0.046],
    [0.67, 0.036, -0.061], [-0.672, 0.039, -0.061], [0.011, 0.248, 0.026], [0.041, 0.328, 0.076],
    [-0.019, 0.328, 0.076], [0.772, 0.028, -0.041], [0.804, 0.03, -0.038], [0.827, 0.027, -0.038],
    [0.78, 0.03, -0.065], [0.81, 0.031, -0.069], [0.834, 0.029, -0.073], [0.754, 0.022, -0.104],
    [0.77, 0.021, -0.116], [0.785, 0.019, -0.128], [0.768, 0.027, -0.088], [0.796, 0.029, -0.093],
    [0.819, 0.027, -0.1], [0.711, 0.018, -0.035], [0.728, 0.019, -0.01], [0.748, 0.014, 0.005],
    [-0.772, 0.028, -0.041], [-0.804, 0.03, -0.038], [-0.827, 0.027, -0.038], [-0.78, 0.03, -0.065],
    [-0.81, 0.031, -0.069], [-0.834, 0.029, -0.073], [-0.754, 0.022, -0.104], [-0.77, 0.021, -0.116],
    [-0.785, 0.019, -0.128], [-0.768, 0.027, -0.088], [-0.796, 0.029, -0.093], [-0.819, 0.027, -0.1],
    [-0.711, 0.018, -0.035], [-0.728, 0.019, -0.01], [-0.748, 0.014, 0.005],
])
FPS = 24.0
J = {name: i for i, name in enumerate(SMPLX_JOINT_NAMES)}


def _aa(m: Matrix) -> list[float]:
    q = m.to_quaternion()
    axis, angle = q.to_axis_angle()
    return list(axis * angle)


def _between(a: np.ndarray, b: np.ndarray) -> Matrix:
    return Vector(a).rotation_difference(Vector(b)).to_matrix()


def squat_motion(frames: int = 48, drift: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(global_orient (T,3), transl (T,3), local rotations (T,55,3)): a squat with planted
    feet (first half), then the left and the right foot lifted in turn (second half).

    Camera frame for the global values (the person 3 m in front of the camera, upright,
    facing it); model frame for the local rotations."""
    rest = SMPLX_REST
    local = np.zeros((frames, 55, 3))
    transl = np.zeros((frames, 3))
    go = np.tile([math.pi, 0.0, 0.0], (frames, 1))
    half = frames // 2
    for f in range(frames):
        phase = 2 * math.pi * f / frames
        squat = 2 * math.pi * f / half if f < half else 0.0
        drop, back = 0.22 * (1 - math.cos(squat)) / 2, 0.06 * (1 - math.cos(squat)) / 2
        delta = np.array([0.0, -drop, -back])
        # camera frame: model (x, y, z) -> (x, -y, -z) under the 180 deg global orient
        transl[f] = np.array([0.0, 0.0, 3.0]) + delta * np.array([1.0, -1.0, -1.0])
        transl[f, 0] += drift * f / FPS      # a sliding capture: the whole body drifts sideways (m/s)
        for side in ("left", "right"):
            h, k, a = J[f"{side}_hip"], J[f"{side}_knee"], J[f"{side}_ankle"]
            hip, knee, ankle = rest[h] + delta, rest[k], rest[a]
            l1, l2 = np.linalg.norm(rest[k] - rest[h]), np.linalg.norm(rest[a] - rest[k])
            to = ankle - hip
            dist = min(np.linalg.norm(to), l1 + l2 - 1e-6)
            axis = to / np.linalg.norm(to)
            forward = np.array([0.0, 0.0, 1.0]) - axis * axis[2]
            forward /= np.linalg.norm(forward)
            along = (l1 * l1 - l2 * l2 + dist * dist) / (2 * dist)
            new_knee = hip + axis * along + forward * math.sqrt(max(l1 * l1 - along * along, 0.0))
            r_thigh = _between(rest[k] - rest[h], new_knee - hip)
            r_shin = _between(r_thigh @ Vector(rest[a] - rest[k]), ankle - new_knee) @ r_thigh
            local[f, h] = _aa(r_thigh)
            local[f, k] = _aa(r_thigh.transposed() @ r_shin)
            local[f, a] = _aa(r_shin.transposed())
            # second half: lift one foot after the other (hip and knee flexion; the pelvis
            # stays, the other foot stays planted)
            quarter = (frames - half) // 2
            start = half if side == "left" else half + quarter
            if start <= f < start + quarter:
                lift = math.sin(math.pi * (f - start) / quarter)
                local[f, h] = [-0.7 * lift, 0.0, 0.0]
                local[f, k] = [1.2 * lift, 0.0, 0.0]
                local[f, a] = [-0.3 * lift, 0.0, 0.0]
        twist = 0.25 * math.sin(phase)
        for s in ("spine1", "spine2", "spine3"):
            local[f, J[s]] = [0.0, twist / 3, 0.0]
        local[f, J["head"]] = [0.3 * math.sin(2 * phase), 0.0, 0.0]
        local[f, J["neck"]] = [0.0, -0.2 * math.sin(phase), 0.0]
        for side, sign in (("left", 1.0), ("right", -1.0)):
            local[f, J[f"{side}_shoulder"]] = [0.4 * math.sin(phase), 0.0, -sign * 0.6 * math.sin(phase)]
            local[f, J[f"{side}_elbow"]] = [0.0, sign * 0.8 * (1 - math.cos(phase)) / 2, 0.0]
            local[f, J[f"{side}_wrist"]] = [0.3 * math.sin(2 * phase), 0.0, 0.0]
            local[f, J[f"{side}_collar"]] = [0.0, 0.0, sign * 0.1 * math.sin(phase)]
            for finger in ("index", "middle", "ring", "pinky", "thumb"):
                for seg in (1, 2, 3):
                    local[f, J[f"{side}_{finger}{seg}"]] = [0.0, 0.0, -sign * 0.5 * (1 - math.cos(phase)) / 2]
    return go, transl, local


def build_source(frames: int = 48, name: str = "capture", drift: float = 0.0) -> bpy.types.Object:
    """The SMPL-X avatar with the squat keyed on frames 1..frames (scene fps 24)."""
    scene = bpy.context.scene
    scene.render.fps = int(FPS)
    scene.frame_start, scene.frame_end = 1, frames
    avatar = rig.build_avatar(name, scene.collection, joint_names=SMPLX_JOINT_NAMES,
                              parents=np.array(SMPLX_PARENTS), rest_joints=SMPLX_REST)
    go, transl, local = squat_motion(frames, drift)
    location, quats = rig.pose_keys(avatar, go, transl, local)
    keys.write_channels(avatar.armature, np.arange(1, frames + 1, dtype=np.float64),
                        rig.pose_channels(avatar, location, quats), action_name=f"{name}_take")
    return avatar.armature


def build_armature(name: str, heads: dict[str, np.ndarray], parents: dict[str, str | None],
                   rolls: dict[str, float] | None = None, data_matrix: Matrix | None = None,
                   object_matrix: Matrix | None = None) -> bpy.types.Object:
    """An armature from world head positions: each bone points at its first child (leaves
    continue their parent's direction). ``data_matrix`` maps world positions into armature
    space (e.g. Y-up centimetres); ``object_matrix`` is the object's world matrix."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    to_data = data_matrix or Matrix.Identity(4)
    children: dict[str, list[str]] = {}
    for bone, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(bone)
    view_layer = bpy.context.view_layer
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    edit = {}
    for bone, parent in parents.items():  # parents come first in every table here
        eb = data.edit_bones.new(bone)
        head = Vector(heads[bone])
        kids = children.get(bone)
        if kids:
            tail = Vector(heads[kids[0]])
        elif parent is not None:
            tail = head + (head - Vector(heads[parent])).normalized() * 0.05
        else:
            tail = head + Vector((0.0, 0.0, 0.1))
        if (tail - head).length < 1e-3:
            tail = head + Vector((0.0, 0.0, 0.05))
        eb.head, eb.tail = to_data @ head, to_data @ tail
        eb.roll = (rolls or {}).get(bone, 0.0)
        if parent is not None:
            eb.parent = edit[parent]
        edit[bone] = eb
    bpy.ops.object.mode_set(mode="OBJECT")
    if object_matrix is not None:
        obj.matrix_world = object_matrix
    return obj


def mixamo_heads() -> dict[str, np.ndarray]:
    """World heads (Blender z up, facing -y) of a Mixamo character with other proportions:
    1.18x scale, thighs 1.3x and shins 1.1x longer, arms in an A-pose (35 deg down)."""
    to_blender = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    rest = (SMPLX_REST @ to_blender.T) * 1.18
    out: dict[str, np.ndarray] = {}
    names = {v[0].split(":")[1]: k for k, v in mixamo.BONES.items()}   # plain Mixamo name -> joint
    pos = {j: rest[i].copy() for j, i in J.items()}
    for side in ("left", "right"):  # stretch legs (thigh 1.3, shin 1.1), keep feet under knees
        h, k, a, t = (f"{side}_{x}" for x in ("hip", "knee", "ankle", "foot"))
        thigh, shin, foot = pos[k] - pos[h], pos[a] - pos[k], pos[t] - pos[a]
        pos[k] = pos[h] + 1.3 * thigh
        pos[a] = pos[k] + 1.1 * shin
        pos[t] = pos[a] + foot
        s = 1.0 if side == "left" else -1.0
        pivot = pos[f"{side}_shoulder"]
        down = np.array(Matrix.Rotation(math.radians(35.0) * -s, 3, "Y"))   # A-pose about the shoulder
        arm = [j for j in pos if j.startswith(f"{side}_") and any(
            x in j for x in ("elbow", "wrist", "index", "middle", "ring", "pinky", "thumb"))]
        for j in arm:
            pos[j] = pivot + down @ (pos[j] - pivot)
    hierarchy = dict(mixamo.HIERARCHY)
    lift = -min(p[2] for p in pos.values())
    for p in pos.values():
        p[2] += lift
    for bone, parent in mixamo.HIERARCHY:
        if bone in names:
            out[bone] = pos[names[bone]]
        elif bone == "HeadTop_End":
            out[bone] = pos["head"] + np.array([0.0, 0.0, 0.2])
        elif bone.endswith("Toe_End"):
            out[bone] = out[parent] + np.array([0.0, -0.06, 0.0])
        else:  # finger tips (…4): continue the last segment
            out[bone] = out[parent] + 0.8 * (out[parent] - out[hierarchy[parent]])
    return out


def build_mixamo(name: str = "mixamo") -> bpy.types.Object:
    heads = mixamo_heads()
    parents = {f"mixamorig:{b}": (f"mixamorig:{p}" if p else None) for b, p in mixamo.HIERARCHY}
    heads = {f"mixamorig:{b}": v for b, v in heads.items()}
    rng = np.random.default_rng(7)
    rolls = {b: float(rng.uniform(-math.pi, math.pi)) for b in parents}
    # imported-FBX layout: armature space is Y-up centimetres; the object undoes it
    to_data = Matrix.Rotation(-math.pi / 2, 4, "X") @ Matrix.Scale(100.0, 4)
    obj_matrix = Matrix.Rotation(math.pi / 2, 4, "X") @ Matrix.Scale(0.01, 4)
    obj = build_armature(name, heads, parents, rolls, to_data, obj_matrix)
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    obj.pose.bones["mixamorig:LeftArm"].rotation_mode = "XYZ"   # one Euler bone, as users have
    obj.pose.bones["mixamorig:Spine1"].rotation_mode = "ZXY"
    return obj


def build_rigify(name: str = "rig") -> bpy.types.Object:
    """Blender's bundled human metarig, generated by Rigify (the real rig)."""
    addon_utils.enable("rigify", default_set=True)
    bpy.ops.object.armature_human_metarig_add()
    meta = bpy.context.active_object
    meta.location = (1.5, 0.0, 0.0)
    bpy.ops.pose.rigify_generate()
    rig_obj = bpy.context.active_object
    rig_obj.name = name
    meta.hide_set(True)
    return rig_obj


@pytest.fixture
def scene(empty_scene):  # noqa: ANN001 (fixture from tests/addon/conftest.py)
    return empty_scene


@pytest.fixture
def rigs():
    """Builders: ``source``, ``mixamo``, ``rigify``, ``vendor``, ``armature``; ``fps``."""
    from types import SimpleNamespace

    return SimpleNamespace(source=build_source, mixamo=build_mixamo, rigify=build_rigify,
                           armature=build_armature, vendor=build_vendor, fps=FPS, smplx_rest=SMPLX_REST)


def build_vendor(module, name: str, scale: float = 0.9) -> bpy.types.Object:
    """An armature with a vendor table's bone names and hierarchy (``module.HIERARCHY``):
    mapped bones at the SMPL-X rest joints (scaled, standing on z = 0), other bones just
    above their parent; random rolls."""
    to_blender = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    rest = SMPLX_REST @ to_blender.T * scale
    rest[:, 2] -= rest[:, 2].min()
    joint_of = {}
    for joint, candidates in module.BONES.items():
        for candidate in candidates:
            joint_of.setdefault(candidate, joint)
    heads: dict[str, np.ndarray] = {}
    parents = dict(module.HIERARCHY)
    for bone, parent in module.HIERARCHY:
        if bone in joint_of and joint_of[bone] in J:
            heads[bone] = rest[J[joint_of[bone]]]
        elif parent is None:
            heads[bone] = np.zeros(3)
        else:
            heads[bone] = heads[parent] + np.array([0.0, 0.0, 0.05])
    rng = np.random.default_rng(3)
    rolls = {b: float(rng.uniform(-math.pi, math.pi)) for b in parents}
    obj = build_armature(name, heads, parents, rolls)
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    return obj
