"""Armatures and skinned meshes from the motion file's avatar arrays, and their pose keys.

Rig layout (all bodies and hands):

* The armature object's world matrix is :data:`REST_TO_BLENDER` (model frame -> Blender:
  +90 deg about X), so armature space IS the model frame (metres, y up, the body faces
  +z) and the rest figure stands upright facing the capture camera.
* One bone per joint, named as ``avatar/joint_names`` (SMPL-X names; MANO names for
  hands), head at the joint's rest position, pointing at its main child. The rest pose
  is the rig's (flat hand, zero pose) for this person's shape (``p{i}/rest_joints``).
* Every pose bone uses quaternions. A joint's local rotation R (SMPL-X convention, in
  the model frame) becomes the bone-space key ``Q^T R Q`` (Q = bone rest rotation in
  armature space); the root also carries the global placement, converted from the
  camera frame through :func:`addon.camera.camera_to_blender` (the one conversion).
* The mesh (``p{i}/rest_vertices``, ``avatar/faces``) is parented to the armature with
  one vertex group per joint (4 influences per vertex from ``avatar/skin_indices`` /
  ``skin_weights``) and an Armature modifier: Blender's linear blend skinning equals
  the body model's.

Public interface (retarget and export build on it):

``build_avatar(name, collection, *, joint_names, parents, rest_joints, rest_vertices=None,
faces=None, skin_indices=None, skin_weights=None) -> Avatar``
    Creates the armature (and mesh) linked into ``collection`` (which must be in the
    active scene). ``Avatar`` holds ``armature``, ``mesh`` (or None), ``bone_names``,
    ``parents`` and ``rest_matrices`` ((J,4,4) bone rest matrices in armature space, read
    back from Blender).
``pose_keys(avatar, global_orient, transl, local_rotations) -> (location (T,3), quats (T,J,4))``
    Bone-space keys (root location, w-first quaternions for every bone) that reproduce
    the motion file's pose: ``global_orient`` (T,3) axis-angle and ``transl`` (T,3) metres
    in the camera frame, ``local_rotations`` (T,J,3) axis-angle per joint (row 0 ignored).
``pose_channels(avatar, location, quats) -> list[keys.Channel]``
    The F-Curve channels for :func:`addon.keys.write_channels`.
``joint_transforms_from_keys(avatar, location, quats) -> (T,J,4,4)``
    Inverse check: global joint transforms in the camera frame implied by keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import bpy
import numpy as np

from .camera import blender_to_camera, camera_to_blender
from .keys import Channel

REST_TO_BLENDER: np.ndarray = np.array([[1.0, 0.0, 0.0, 0.0],
                                        [0.0, 0.0, -1.0, 0.0],
                                        [0.0, 1.0, 0.0, 0.0],
                                        [0.0, 0.0, 0.0, 1.0]])
"""(4,4) world matrix of every avatar armature: model frame (y up) -> Blender (z up)."""

MIN_BONE_LENGTH = 0.01  # metres


# -- rotation helpers (numpy only; quaternions are w-first) ----------------------------

def axis_angle_to_quat(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle (radians) -> (..., 4) unit quaternions (w, x, y, z), float64."""
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.sqrt((aa * aa).sum(axis=-1))
    half = 0.5 * angle
    small = angle < 1e-8
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.sin(half) / angle
    if small.any():  # sin(angle/2)/angle -> 1/2 - angle^2/48 near zero
        scale[small] = 0.5 - angle[small] ** 2 / 48.0
    out = np.empty(aa.shape[:-1] + (4,))
    out[..., 0] = np.cos(half)
    np.multiply(aa, scale[..., None], out=out[..., 1:])
    return out


def quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (..., 4) quaternions (w first)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """(..., 4) conjugate (the inverse of a unit quaternion)."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (normalised here) -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], axis=-1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], axis=-1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1),
    ], axis=-2)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions with w >= 0."""
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # four candidate forms; pick the best conditioned per matrix
    cands = np.stack([
        np.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2],
                  m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], axis=-1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22,
                  m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], axis=-1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                  1 - m00 + m11 - m22, m[..., 1, 2] + m[..., 2, 1]], axis=-1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0],
                  m[..., 1, 2] + m[..., 2, 1], 1 - m00 - m11 + m22], axis=-1),
    ], axis=-2)
    diag = np.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                     1 - m00 + m11 - m22, 1 - m00 - m11 + m22], axis=-1)
    best = np.argmax(diag, axis=-1)
    q = np.take_along_axis(cands, best[..., None, None], axis=-2)[..., 0, :]
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0, -q, q)


def make_continuous(quats: np.ndarray) -> np.ndarray:
    """(T, ..., 4) quaternions -> a float64 copy with signs flipped along axis 0 (time) so
    consecutive quaternions are in the same hemisphere (same rotations)."""
    q = np.array(quats, dtype=np.float64, copy=True)
    if len(q) < 2:
        return q
    dots = (q[1:] * q[:-1]).sum(axis=-1)
    flips = np.cumsum(dots < 0, axis=0, dtype=np.int32) & 1  # odd number of flips so far
    q[1:] *= (1 - 2 * flips)[..., None]
    return q


def _translation(t: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 4, 4) translation matrices."""
    t = np.asarray(t, dtype=np.float64)
    m = np.zeros(t.shape[:-1] + (4, 4))
    m[..., :3, :3] = np.eye(3)
    m[..., :3, 3] = t
    m[..., 3, 3] = 1.0
    return m


# -- building ---------------------------------------------------------------------------

@dataclass
class Avatar:
    """A built rig.

    Attributes:
        armature: the armature object (world matrix :data:`REST_TO_BLENDER`).
        mesh: the skinned mesh object, or None.
        bone_names: (J,) bone names, joint order.
        parents: (J,) parent joint index, -1 for the root.
        rest_joints: (J,3) rest joint positions, metres, model (= armature) space.
        rest_matrices: (J,4,4) bone rest matrices in armature space (``bone.matrix_local``).
    """

    armature: bpy.types.Object
    mesh: bpy.types.Object | None
    bone_names: list[str] = field(repr=False)
    parents: np.ndarray = field(repr=False)
    rest_joints: np.ndarray = field(repr=False)
    rest_matrices: np.ndarray = field(repr=False)


def _bone_tails(rest_joints: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """(J,3) tail positions: towards the main child (the root: the child with most
    descendants; others: the child best aligned with the incoming bone); leaves extend
    the incoming direction by half the parent's length."""
    count = len(parents)
    children: list[list[int]] = [[] for _ in range(count)]
    for j, p in enumerate(parents):
        if p >= 0:
            children[p].append(j)
    descendants = np.zeros(count, dtype=int)
    for j in reversed(range(count)):  # parents precede children
        if parents[j] >= 0:
            descendants[parents[j]] += 1 + descendants[j]
    tails = np.zeros_like(rest_joints)
    for j in range(count):
        head = rest_joints[j]
        incoming = head - rest_joints[parents[j]] if parents[j] >= 0 else np.array([0.0, 1.0, 0.0])
        norm_in = np.linalg.norm(incoming)
        incoming_dir = incoming / norm_in if norm_in > 1e-9 else np.array([0.0, 1.0, 0.0])
        direction, length = incoming_dir, max(0.5 * norm_in, MIN_BONE_LENGTH)
        if children[j]:
            if parents[j] < 0:
                child = max(children[j], key=lambda c: (descendants[c], -c))
            else:
                def alignment(c: int) -> float:
                    off = rest_joints[c] - head
                    return float(off @ incoming_dir / max(np.linalg.norm(off), 1e-9))
                child = max(children[j], key=alignment)
            offset = rest_joints[child] - head
            if np.linalg.norm(offset) > MIN_BONE_LENGTH:
                direction, length = offset / np.linalg.norm(offset), float(np.linalg.norm(offset))
        tails[j] = head + direction * length
    return tails


def _validate_skeleton(joint_names: Sequence[str], parents: np.ndarray, rest_joints: np.ndarray) -> None:
    count = len(joint_names)
    if parents.shape != (count,) or rest_joints.shape != (count, 3):
        raise ValueError(f"skeleton arrays disagree: {count} names, parents {parents.shape}, "
                         f"rest joints {rest_joints.shape}")
    children = parents[1:]
    if count == 0 or parents[0] != -1 or np.any(children < 0) or np.any(children >= np.arange(1, count)):
        raise ValueError("parents must list the root first and every parent before its children")
    if len(set(joint_names)) != count:
        raise ValueError("joint names must be unique")


def build_avatar(name: str, collection: bpy.types.Collection, *, joint_names: Sequence[str],
                 parents: np.ndarray, rest_joints: np.ndarray, rest_vertices: np.ndarray | None = None,
                 faces: np.ndarray | None = None, skin_indices: np.ndarray | None = None,
                 skin_weights: np.ndarray | None = None) -> Avatar:
    """Create an armature (and a skinned mesh) for one person, linked into ``collection``.

    Args:
        name: object name (the armature; the mesh gets ``name + " mesh"``).
        collection: target collection; must be linked into the current scene (edit mode
            is entered briefly to create the bones).
        joint_names: (J,) bone names.
        parents: (J,) int parent indices, -1 for the root (index 0), parents first.
        rest_joints: (J,3) metres, model frame.
        rest_vertices: (V,3) metres, model frame; None for a bare armature.
        faces: (F,3) int triangles.
        skin_indices: (V,4) int joint indices; skin_weights: (V,4) float weights.

    Returns:
        The :class:`Avatar`.
    """
    names = [str(n) for n in joint_names]
    parents = np.asarray(parents, dtype=np.int64)
    rest = np.asarray(rest_joints, dtype=np.float64)
    _validate_skeleton(names, parents, rest)
    data = bpy.data.armatures.new(name)
    data.display_type = "OCTAHEDRAL"
    arm = bpy.data.objects.new(name, data)
    arm.matrix_world = REST_TO_BLENDER.T.tolist()
    arm.show_in_front = True
    collection.objects.link(arm)
    tails = _bone_tails(rest, parents)

    view_layer = bpy.context.view_layer
    previous_active = view_layer.objects.active
    # edit mode takes every selected armature along: edit this one alone
    selected = [obj for obj in view_layer.objects if obj.select_get()]
    for obj in selected:
        obj.select_set(False)
    arm.select_set(True)
    view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit_bones = []
        for j, bone_name in enumerate(names):
            bone = data.edit_bones.new(bone_name)
            bone.head = rest[j].tolist()
            bone.tail = tails[j].tolist()
            bone.roll = 0.0
            if parents[j] >= 0:
                bone.parent = edit_bones[parents[j]]
                bone.use_connect = False
            edit_bones.append(bone)
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        arm.select_set(False)
        for obj in selected:
            obj.select_set(True)
        view_layer.objects.active = previous_active

    rest_matrices = np.empty((len(names), 4, 4))
    flat = np.empty(16 * len(names), dtype=np.float32)
    data.bones.foreach_get("matrix_local", flat)
    # foreach_get flattens each matrix column-major
    rest_matrices[:] = flat.reshape(len(names), 4, 4).transpose(0, 2, 1)
    rest_matrices = rest_matrices[[data.bones.find(n) for n in names]]
    for pose_bone in arm.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"

    mesh_obj = None
    if rest_vertices is not None:
        if faces is None or skin_indices is None or skin_weights is None:
            raise ValueError("a mesh needs faces, skin_indices and skin_weights")
        mesh_obj = _build_mesh(f"{name} mesh", collection, arm, names, np.asarray(rest_vertices),
                               np.asarray(faces), np.asarray(skin_indices), np.asarray(skin_weights))
    return Avatar(armature=arm, mesh=mesh_obj, bone_names=names, parents=parents,
                  rest_joints=rest, rest_matrices=rest_matrices)


def _build_mesh(name: str, collection: bpy.types.Collection, arm: bpy.types.Object, bone_names: list[str],
                vertices: np.ndarray, faces: np.ndarray, skin_indices: np.ndarray,
                skin_weights: np.ndarray) -> bpy.types.Object:
    count = len(vertices)
    if vertices.shape != (count, 3) or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"mesh arrays have wrong shapes: vertices {vertices.shape}, faces {faces.shape}")
    if skin_indices.shape != skin_weights.shape or skin_indices.shape[0] != count:
        raise ValueError(f"skin arrays {skin_indices.shape}/{skin_weights.shape} "
                         f"do not match {count} vertices")
    if faces.size and (faces.min() < 0 or faces.max() >= count):
        raise ValueError("faces index vertices that do not exist")
    if skin_indices.size and (skin_indices.min() < 0 or skin_indices.max() >= len(bone_names)):
        raise ValueError("skin indices name joints that do not exist")
    mesh = bpy.data.meshes.new(name)
    mesh.vertices.add(count)
    mesh.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
    nf = len(faces)
    mesh.loops.add(3 * nf)
    mesh.loops.foreach_set("vertex_index", faces.astype(np.int32).ravel())
    mesh.polygons.add(nf)
    mesh.polygons.foreach_set("loop_start", np.arange(0, 3 * nf, 3, dtype=np.int32))
    mesh.update()
    mesh.polygons.foreach_set("use_smooth", np.ones(nf, dtype=bool))
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    obj.parent = arm
    obj.matrix_parent_inverse.identity()
    groups = [obj.vertex_groups.new(name=n) for n in bone_names]
    vertex_ids = np.repeat(np.arange(count), skin_indices.shape[1])
    joints = skin_indices.ravel()
    weights = skin_weights.astype(np.float32).ravel()
    keep = weights > 0
    vertex_ids, joints, weights = vertex_ids[keep], joints[keep], weights[keep]
    order = np.lexsort((weights, joints))
    vertex_ids, joints, weights = vertex_ids[order], joints[order], weights[order]
    # one vertex_groups.add call per (joint, weight) run
    starts = np.flatnonzero(np.r_[True, (np.diff(joints) != 0) | (np.diff(weights) != 0)])
    ends = np.r_[starts[1:], len(joints)]
    for s, e in zip(starts.tolist(), ends.tolist()):
        groups[joints[s]].add(vertex_ids[s:e].tolist(), float(weights[s]), "REPLACE")
    modifier = obj.modifiers.new("Armature", "ARMATURE")
    modifier.object = arm
    modifier.use_vertex_groups = True
    modifier.use_deform_preserve_volume = False
    return obj


EXPRESSION_SLIDER_RANGE = 5.0
"""Shape-key slider range (+-) of the expression keys (SMPL-X coefficients are unit-variance)."""


def add_expression_shape_keys(mesh_obj: bpy.types.Object, rest_vertices: np.ndarray,
                              expression_dirs: np.ndarray) -> list[str]:
    """Shape keys ``Expression 0`` .. ``Expression E-1`` on an avatar mesh: key k is the rest mesh
    plus ``expression_dirs[:, :, k]`` (one unit of coefficient k), so the key's value is the
    coefficient. ``rest_vertices`` (V,3) and ``expression_dirs`` (V,3,E): metres, model frame.
    Returns the key names in coefficient order."""
    rest = np.asarray(rest_vertices, dtype=np.float64)
    dirs = np.asarray(expression_dirs, dtype=np.float64)
    if dirs.ndim != 3 or dirs.shape[:2] != rest.shape or rest.shape[0] != len(mesh_obj.data.vertices):
        raise ValueError(f"expression basis {dirs.shape} does not fit the mesh's "
                         f"{len(mesh_obj.data.vertices)} vertices")
    if mesh_obj.data.shape_keys is None:
        mesh_obj.shape_key_add(name="Basis", from_mix=False)
    names = []
    for k in range(dirs.shape[2]):
        block = mesh_obj.shape_key_add(name=f"Expression {k}", from_mix=False)
        block.slider_min, block.slider_max = -EXPRESSION_SLIDER_RANGE, EXPRESSION_SLIDER_RANGE
        block.data.foreach_set("co", (rest + dirs[:, :, k]).astype(np.float32).ravel())
        names.append(block.name)
    return names


# -- pose -> keys ------------------------------------------------------------------------

def pose_keys(avatar: Avatar, global_orient: np.ndarray, transl: np.ndarray,
              local_rotations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bone-space keys reproducing a pose sequence.

    Args:
        avatar: the rig.
        global_orient: (T,3) axis-angle of the root, camera frame (about the root joint).
        transl: (T,3) metres, camera frame; root joint = rest_joints[0] + transl.
        local_rotations: (T,J,3) axis-angle per joint relative to its parent (model
            frame); row 0 (the root) is ignored.

    Returns:
        location (T,3) of the root bone and quats (T,J,4) w-first for every bone, float64,
        sign-continuous in time.
    """
    frames = len(global_orient)
    rest = avatar.rest_matrices
    # Q^T R(a) Q = R(Q^T a): conjugating by the bone's rest rotation turns the axis
    local = np.asarray(local_rotations, np.float64)
    turned = np.matmul(local[:, :, None, :], rest[None, :, :3, :3])[:, :, 0, :]  # a^T Q = (Q^T a)^T
    quats = axis_angle_to_quat(turned)
    # root: basis = B0^-1 A^-1 camera_to_blender(G0) T(-J0) B0
    g0 = np.zeros((frames, 4, 4))
    g0[:, :3, :3] = quat_to_matrix(axis_angle_to_quat(global_orient))
    g0[:, :3, 3] = avatar.rest_joints[0] + np.asarray(transl, dtype=np.float64)
    g0[:, 3, 3] = 1.0
    world = camera_to_blender(g0)
    basis = (np.linalg.inv(rest[0]) @ np.linalg.inv(REST_TO_BLENDER))[None] @ world \
        @ (_translation(-avatar.rest_joints[0]) @ rest[0])[None]
    quats[:, 0] = matrix_to_quat(basis[:, :3, :3])
    return basis[:, :3, 3].copy(), make_continuous(quats)


def pose_channels(avatar: Avatar, location: np.ndarray, quats: np.ndarray) -> list[Channel]:
    """Channels for :func:`addon.keys.write_channels` on ``avatar.armature``:
    root location (3 curves) and every bone's rotation_quaternion (4 curves each)."""
    root = avatar.bone_names[0]
    channels = [Channel(f'pose.bones["{root}"].location', k, location[:, k], root) for k in range(3)]
    for j, bone in enumerate(avatar.bone_names):
        path = f'pose.bones["{bone}"].rotation_quaternion'
        channels.extend(Channel(path, k, quats[:, j, k], bone) for k in range(4))
    return channels


def joint_transforms_from_keys(avatar: Avatar, location: np.ndarray, quats: np.ndarray) -> np.ndarray:
    """Global joint transforms in the camera frame implied by keys: (T,J,4,4), float64.

    ``G_j[:, :3, 3]`` are the joint positions (metres, camera frame), i.e. the same as
    forward kinematics of the motion file's values."""
    rest = avatar.rest_matrices
    frames, count = quats.shape[:2]
    basis = np.zeros((frames, count, 4, 4))
    basis[..., :3, :3] = quat_to_matrix(quats)
    basis[..., 3, 3] = 1.0
    basis[:, 0, :3, 3] = location
    pose = np.zeros_like(basis)  # armature-space pose matrices (Blender's rule)
    for j in range(count):
        p = avatar.parents[j]
        if p < 0:
            pose[:, j] = rest[j][None] @ basis[:, j]
        else:
            pose[:, j] = pose[:, p] @ (np.linalg.inv(rest[p]) @ rest[j])[None] @ basis[:, j]
    deform = pose @ np.linalg.inv(rest)[None]  # rest-space -> posed armature space
    world = REST_TO_BLENDER[None, None] @ deform @ _translation(avatar.rest_joints)[None]
    return blender_to_camera(world)
