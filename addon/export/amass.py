"""SMPL-X parameters of an avatar's action as an AMASS-style npz.

Keys: ``poses`` (T,165) axis-angle [root 3, body 63, jaw 3, eyes 6, left hand 45, right
hand 45], ``root_orient`` (T,3), ``pose_body`` (T,63), ``pose_hand`` (T,90), ``pose_jaw``
(T,3), ``pose_eye`` (T,6), ``trans`` (T,3) metres, ``betas`` (B,), ``num_betas``,
``gender``, ``mocap_framerate`` / ``mocap_frame_rate``, ``surface_model_type`` ("smplx").
The frame is Blender's world (Z up, like AMASS). Hand poses are full rotations from the
FLAT hand: load with ``smplx.create(..., use_pca=False, flat_hand_mean=True)``.
Then ``smplx`` forward kinematics with these values reproduce the avatar's joints in
Blender's world, provided the model's rest joints are the avatar's (same model, betas).
"""

from __future__ import annotations

import os
import tempfile

import bpy
import numpy as np

from ..retarget.smplx_names import SMPLX_JOINT_NAMES
from ..retarget.transfer import pose_matrices, rest_matrices


class AmassError(ValueError):
    """The armature cannot be exported as SMPL-X (shown to the user)."""


def _axis_angle(r: np.ndarray) -> np.ndarray:
    """(...,3,3) rotations -> (...,3) axis-angle (radians), robust near 0 and pi."""
    from mathutils import Matrix

    flat = r.reshape(-1, 3, 3)
    out = np.empty((len(flat), 3))
    for i, m in enumerate(flat):
        axis, angle = Matrix(m.tolist()).to_quaternion().to_axis_angle()
        out[i] = np.array(axis) * angle
    return out.reshape(r.shape[:-2] + (3,))


def smplx_parameters(context: bpy.types.Context, armature: bpy.types.Object, frames: list[int]) -> dict[str, np.ndarray]:
    """Per-frame SMPL-X parameters of an avatar armature (bones named as SMPL-X joints,
    armature space = model frame, as :func:`addon.rig.build_avatar` makes them).

    Returns root_orient (T,3), trans (T,3), local (T,55,3) axis-angle (model frame).
    """
    missing = [n for n in SMPLX_JOINT_NAMES if n not in armature.data.bones]
    if missing:
        raise AmassError(f"{armature.name} is not an SMPL-X avatar (no bones {', '.join(missing[:5])} ...)")
    if armature.pose is None:
        context.view_layer.update()
    index = [armature.pose.bones.find(n) for n in SMPLX_JOINT_NAMES]
    rest = rest_matrices(armature)[index]
    parents = [(-1 if b.parent is None else SMPLX_JOINT_NAMES.index(b.parent.name))
               for b in (armature.data.bones[n] for n in SMPLX_JOINT_NAMES)]
    j0 = rest[0, :3, 3]
    scene = context.scene
    current = scene.frame_current
    local = np.zeros((len(frames), 55, 3, 3))
    root = np.zeros((len(frames), 3, 3))
    trans = np.zeros((len(frames), 3))
    try:
        for f, frame in enumerate(frames):
            scene.frame_set(frame)
            pose = pose_matrices(armature)[index]
            deform = pose @ np.linalg.inv(rest)                 # rest -> posed, armature space
            for j in range(1, 55):
                p = parents[j]
                local[f, j] = deform[p, :3, :3].T @ deform[j, :3, :3]
            world = np.array(armature.matrix_world) @ deform[0]
            root[f] = world[:3, :3]
            trans[f] = world[:3, 3] + world[:3, :3] @ j0 - j0
    finally:
        scene.frame_set(current)
    return {"root_orient": _axis_angle(root), "trans": trans, "local": _axis_angle(local)}


def write_amass(context: bpy.types.Context, armature: bpy.types.Object, path: str, *, frames: list[int] | None = None,
                betas: np.ndarray | None = None, gender: str = "neutral") -> str:
    """Write the avatar's animation as an AMASS-style npz (atomically). Returns the path."""
    scene = context.scene
    frames = list(range(scene.frame_start, scene.frame_end + 1)) if frames is None else list(frames)
    if not frames:
        raise AmassError("no frames to export")
    if betas is None:
        betas = np.asarray(armature.get("betas", np.zeros(10)), dtype=np.float64)
    params = smplx_parameters(context, armature, frames)
    local = params["local"]
    body, jaw, eyes = local[:, 1:22].reshape(len(frames), -1), local[:, 22], local[:, 23:25].reshape(len(frames), -1)
    hands = local[:, 25:55].reshape(len(frames), -1)
    poses = np.concatenate([params["root_orient"], body, jaw, eyes, hands], axis=1)
    fps = scene.render.fps / scene.render.fps_base
    arrays = {
        "poses": poses.astype(np.float64), "root_orient": params["root_orient"], "pose_body": body,
        "pose_hand": hands, "pose_jaw": jaw, "pose_eye": eyes, "trans": params["trans"],
        "betas": np.asarray(betas, dtype=np.float64), "num_betas": np.array(len(betas)),
        "gender": np.array(gender), "surface_model_type": np.array("smplx"),
        "mocap_framerate": np.array(float(fps)), "mocap_frame_rate": np.array(float(fps)),
        "flat_hand_mean": np.array(True),
    }
    folder = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
