"""Re-captured ranges: motion-file rows -> key channels of an existing SMPL-X avatar."""

from __future__ import annotations

import bpy
import numpy as np

from .. import rig
from ..keys import Channel
from ..motion_file import load_motion


def avatar_of(obj: bpy.types.Object, joint_names: list[str]) -> rig.Avatar:
    """The :class:`addon.rig.Avatar` of an armature built by :func:`addon.rig.build_avatar`
    (armature space is the model frame), bones in ``joint_names`` order.

    Raises:
        ValueError: the armature lacks a joint or its hierarchy differs.
    """
    missing = [n for n in joint_names if n not in obj.data.bones]
    if missing:
        raise ValueError(f"{obj.name} has no bones for joints {', '.join(missing[:5])}: not this motion's avatar")
    bones = [obj.data.bones[n] for n in joint_names]
    parents = np.array([joint_names.index(b.parent.name) if b.parent else -1 for b in bones])
    rest = np.array([[list(r) for r in b.matrix_local] for b in bones], dtype=np.float64)
    return rig.Avatar(armature=obj, mesh=None, bone_names=list(joint_names), parents=parents,
                      rest_joints=rest[:, :3, 3].copy(), rest_matrices=rest)


def motion_channels(obj: bpy.types.Object, path: str, person: int = 0) -> tuple[np.ndarray, list[Channel]]:
    """Keys of person ``person`` in a ``video-mocap-motion/1`` file for the avatar ``obj``.

    Returns (frame_index (T,), channels); the caller places frame_index in the scene
    (the take's frames are the source's frame numbers plus the take's offset).

    Raises:
        addon.motion_file.MotionFileError: the file is not a valid motion file.
        ValueError: no such person, a hands-only file, or not this avatar's skeleton.
    """
    motion = load_motion(path)  # validated: schema, shapes, finite values (MotionFileError)
    if not 0 <= person < len(motion.people):
        raise ValueError(f"{path} has {len(motion.people)} people; there is no person {person}")
    if motion.subject != "body":
        raise ValueError(f"{path} is a hands-only capture; re-capture merges need a body capture")
    who = motion.people[person]
    names = [str(n) for n in motion.avatar.joint_names]
    local = who.local_axis_angles(motion.avatar.hand_mean, motion.flat_hand_mean).astype(np.float64)
    go, transl, frame_index = who.global_orient, who.transl, motion.frame_index
    avatar = avatar_of(obj, names)
    location, quats = rig.pose_keys(avatar, go, transl, local)
    return np.asarray(frame_index), rig.pose_channels(avatar, location, quats)
