"""World-space retarget: SMPL-X armature (source) -> any humanoid armature (target).

Per mapped bone and frame the target's world rotation is

    R_T = R_S * R_S_rest^-1 * D^-1 * R_T_rest

(R_S: source bone world rotation, R_*_rest: rest world rotations, D: rest alignment,
the rotation taking the source bone's rest direction (towards its mapped child) onto the
target's; inherited from the parent where a bone has no single mapped child). So the
target bone turns in the world exactly as the source bone turns, and rest-pose
differences (T- vs A-pose, bone rolls, axis conventions, object rotations and scales)
cancel out. The root (pelvis) also moves: its displacement from rest is scaled by the
leg-length ratio. The desired armature-space matrices are then turned into each bone's
local (basis) pose through Blender's own evaluation, parents first, so rigs whose
parents are driven by constraints (Rigify) come out right; finally all curves are
written at once with :func:`addon.keys.write_channels`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Matrix, Quaternion, Vector

from .. import keys
from ..rig import make_continuous
from .smplx_names import SMPLX_JOINT_NAMES, SMPLX_PARENTS, depth

MAX_PASSES = 3
PREDICTIONS = 1   # one-update predictions tried per frame before the level-by-level passes
PASS_TOLERANCE = np.radians(0.1)   # radians: a bake pass is repeated until every bone is this close
ProgressFn = Callable[[int, int], None]
"""progress(done, total): called while baking."""


class RetargetError(RuntimeError):
    """The retarget could not run (message is shown to the user)."""


@dataclass
class RetargetResult:
    """What a bake produced."""

    action: bpy.types.Action
    frames: np.ndarray            # (F,) scene frames
    bones: list[str]              # target bones keyed
    scale: float                  # root-motion scale (target / source leg length)
    seconds: float
    settings_changed: dict[str, dict[str, float]] = field(default_factory=dict)


# -- sampling -----------------------------------------------------------------------------

def pose_matrices(obj: bpy.types.Object) -> np.ndarray:
    """(B,4,4) armature-space pose matrices of all pose bones (current evaluation), float64."""
    flat = np.empty(len(obj.pose.bones) * 16, dtype=np.float32)
    obj.pose.bones.foreach_get("matrix", flat)
    return flat.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)


def rest_matrices(obj: bpy.types.Object) -> np.ndarray:
    """(B,4,4) armature-space rest matrices (``bone.matrix_local``), pose-bone order."""
    flat = np.empty(len(obj.data.bones) * 16, dtype=np.float32)
    obj.data.bones.foreach_get("matrix_local", flat)
    mats = flat.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)
    order = [obj.data.bones.find(pb.name) for pb in obj.pose.bones]
    return mats[order]


def sample_world_matrices(context: bpy.types.Context, obj: bpy.types.Object, bones: Sequence[str],
                          frames: Sequence[int], progress: ProgressFn | None = None) -> np.ndarray:
    """World matrices of ``bones`` at each frame: (F,N,4,4) float64 (unit-scale rotations
    only if the object has no scale). Restores the scene's current frame."""
    scene = context.scene
    current = scene.frame_current
    index = [obj.pose.bones.find(b) for b in bones]
    if min(index, default=0) < 0:
        raise RetargetError(f"{obj.name} has no bone {bones[index.index(-1)]}")
    out = np.empty((len(frames), len(bones), 4, 4))
    try:
        for i, frame in enumerate(frames):
            scene.frame_set(int(frame))
            world = np.array(obj.matrix_world, dtype=np.float64)
            out[i] = world[None] @ pose_matrices(obj)[index]
            if progress is not None:
                progress(i + 1, len(frames))
    finally:
        scene.frame_set(current)
    return out


def _rotation(m: np.ndarray) -> np.ndarray:
    """(...,4,4) or (...,3,3) -> (...,3,3) pure rotations (scale and shear removed by SVD)."""
    u, _, vt = np.linalg.svd(np.asarray(m)[..., :3, :3])
    r = u @ vt
    det = np.linalg.det(r)
    if np.any(det < 0):
        raise RetargetError("mirrored (negative-scale) armatures are not supported")
    return r


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(3,3) smallest rotation taking direction a onto direction b."""
    q = Vector(a).rotation_difference(Vector(b))
    return np.array(q.to_matrix(), dtype=np.float64)


# -- the bake -----------------------------------------------------------------------------

def leg_length(heads: dict[str, np.ndarray]) -> float | None:
    """Mean hip->knee->ankle length of both legs from joint positions (metres), or None."""
    lengths = []
    for side in ("left", "right"):
        try:
            hip, knee, ankle = (heads[f"{side}_{j}"] for j in ("hip", "knee", "ankle"))
        except KeyError:
            continue
        lengths.append(np.linalg.norm(knee - hip) + np.linalg.norm(ankle - knee))
    return float(np.mean(lengths)) if lengths else None


_LIMB_PARTS = ("shoulder", "elbow", "hip", "knee", "ankle", "thumb", "index", "middle", "ring", "pinky")


def _is_limb(joint: str) -> bool:
    """Limb segments align on their rest direction; the torso chain (pelvis, spine, collars,
    neck, head), whose short SMPL-X segments are curved, keeps its world orientation."""
    return any(part in joint for part in _LIMB_PARTS)


def rest_alignment(rows: Sequence[tuple[str, str, str]], source_heads: dict[str, np.ndarray],
                   target_heads: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per joint, the world rotation D taking the source bone's rest direction onto the target's.

    Args:
        rows: (joint, source bone, target bone).
        source_heads, target_heads: joint -> rest head position in world space.

    Returns:
        joint -> (3,3). Limb joints with one mapped child align on the direction to that
        child; the others inherit their nearest mapped ancestor's (identity for the torso).
    """
    mapped = {row[0] for row in rows}

    def mapped_parent(joint: str) -> str | None:
        p = SMPLX_PARENTS[SMPLX_JOINT_NAMES.index(joint)]
        while p >= 0 and SMPLX_JOINT_NAMES[p] not in mapped:
            p = SMPLX_PARENTS[p]
        return None if p < 0 else SMPLX_JOINT_NAMES[p]

    children: dict[str, list[str]] = {j: [] for j in mapped}
    for joint in mapped:
        parent = mapped_parent(joint)
        if parent is not None:
            children[parent].append(joint)
    align: dict[str, np.ndarray] = {}
    for joint in sorted(mapped, key=depth):
        kids = children[joint]
        if len(kids) == 1 and _is_limb(joint):
            a = source_heads[kids[0]] - source_heads[joint]
            b = target_heads[kids[0]] - target_heads[joint]
            if np.linalg.norm(a) > 1e-6 and np.linalg.norm(b) > 1e-6:
                align[joint] = _rotation_between(a, b)
                continue
        parent = mapped_parent(joint)
        align[joint] = align[parent] if parent is not None else np.eye(3)
    return align


def _floor(world: np.ndarray | None, rest: np.ndarray, joints: Sequence[str], time_axis: bool = False) -> float:
    """Ground height (world z): the lowest ankle over the take (``world`` (F,N,4,4)) or at rest."""
    ankles = [i for i, j in enumerate(joints) if j in ("left_ankle", "right_ankle")]
    if not ankles:
        return float(rest[joints.index("pelvis"), 2, 3]) if world is None else float(
            world[:, joints.index("pelvis"), 2, 3].min())
    if time_axis and world is not None:
        return float(world[:, ankles, 2, 3].min())
    return float(rest[ankles, 2, 3].min())


def map_points(points: np.ndarray, src_anchor: np.ndarray, tgt_anchor: np.ndarray, src_floor: float,
               tgt_floor: float, src_rest_height: float, tgt_rest_height: float, scale: float) -> np.ndarray:
    """Map source world points (F,3) onto the target: (F,3).

    Horizontal: the target's anchor (its rest root) plus ``scale`` times the point's offset
    from the source's anchor (the source root on the first frame). Vertical: the height
    above the ground (the lowest ankle of the take; the rest ankles for the target) is
    scaled around the point's rest height (``*_rest_height``, above each rest floor).
    """
    out = np.empty_like(points)
    out[:, :2] = tgt_anchor[None, :2] + scale * (points[:, :2] - src_anchor[None, :2])
    out[:, 2] = tgt_floor + tgt_rest_height + scale * ((points[:, 2] - src_floor) - src_rest_height)
    return out


_POSE_CHANNELS = ("location", "rotation_quaternion", "rotation_euler", "rotation_axis_angle", "scale")


def _save_pose(obj: bpy.types.Object) -> dict[str, tuple[tuple[float, ...], ...]]:
    """Every pose bone's channel values, exactly (matrix_basis would renormalise quaternions)."""
    return {pb.name: tuple(tuple(getattr(pb, c)) for c in _POSE_CHANNELS) for pb in obj.pose.bones}


def _restore_pose(obj: bpy.types.Object, saved: dict[str, tuple[tuple[float, ...], ...]]) -> None:
    for pb in obj.pose.bones:
        for channel, value in zip(_POSE_CHANNELS, saved[pb.name]):
            setattr(pb, channel, value)


def _apply_settings(target: bpy.types.Object, settings: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Set custom properties on pose bones; returns the previous values."""
    previous: dict[str, dict[str, float]] = {}
    for bone, props in settings.items():
        pb = target.pose.bones.get(bone)
        if pb is None:
            continue
        for key, value in props.items():
            if key in pb.keys():
                previous.setdefault(bone, {})[key] = pb[key]
                pb[key] = value
    return previous


def bake_retarget(context: bpy.types.Context, source: bpy.types.Object, target: bpy.types.Object,
                  rows: Sequence[tuple[str, str, str]], frames: Sequence[int], *,
                  settings: dict[str, dict[str, float]] | None = None, action_name: str | None = None,
                  root_motion: bool = True, feet_ik: bool = True,
                  progress: ProgressFn | None = None) -> RetargetResult:
    """Retarget ``source``'s animation onto ``target`` and bake it into a new action.

    Args:
        context: Blender context (its scene and view layer hold both armatures).
        source: the captured SMPL-X armature (animated).
        target: the armature to animate.
        rows: (SMPL-X joint, source bone, target bone), from
            :func:`addon.retarget.mapping.check_mapping`; must include the pelvis.
        frames: scene frames to bake, increasing.
        settings: pose-bone custom properties to set first (e.g. Rigify IK_FK).
        action_name: name of the new action.
        root_motion: move the target's root bone (scaled by the leg-length ratio).
        feet_ik: bend the target's legs (two-bone IK, same bend plane) so its ankles follow
            the source's ankles scaled by the leg ratio: a planted source foot stays
            planted on a target with other thigh/shin proportions.
        progress: progress(done, total) over sampling + baking.

    Returns:
        :class:`RetargetResult`; the new action is assigned to ``target``.

    On failure the target is left as it was (action, slot, pose, properties) and the
    partial action is removed.
    """
    started = time.perf_counter()
    if source.type != "ARMATURE" or target.type != "ARMATURE":
        raise RetargetError("both the source and the target must be armatures")
    if source == target:
        raise RetargetError("the source and the target are the same armature")
    frames = np.asarray(list(frames), dtype=np.int64)
    if frames.size == 0:
        raise RetargetError("no frames to bake")
    rows = list(rows)
    joints = [r[0] for r in rows]
    if "pelvis" not in joints:
        raise RetargetError("the pelvis must be mapped (it carries the root motion)")
    for _, sb, tb in rows:
        if source.pose.bones.get(sb) is None:
            raise RetargetError(f"source armature {source.name} has no bone '{sb}'")
        if target.pose.bones.get(tb) is None:
            raise RetargetError(f"target armature {target.name} has no bone '{tb}'")
    total = 2 * len(frames)

    def report(done: int) -> None:
        if progress is not None:
            progress(done, total)

    # source world matrices over time, and rest poses in world space
    src_world = sample_world_matrices(context, source, [r[1] for r in rows], frames,
                                      lambda d, _t: report(d))
    src_rest_all = np.array(source.matrix_world)[None] @ rest_matrices(source)
    tgt_rest_all = np.array(target.matrix_world)[None] @ rest_matrices(target)
    src_idx = [source.pose.bones.find(r[1]) for r in rows]
    tgt_idx = [target.pose.bones.find(r[2]) for r in rows]
    src_rest, tgt_rest = src_rest_all[src_idx], tgt_rest_all[tgt_idx]
    src_heads = {j: src_rest[i, :3, 3] for i, j in enumerate(joints)}
    tgt_heads = {j: tgt_rest[i, :3, 3] for i, j in enumerate(joints)}
    align = rest_alignment(rows, src_heads, tgt_heads)
    src_leg, tgt_leg = leg_length(src_heads), leg_length(tgt_heads)
    scale = tgt_leg / src_leg if src_leg and tgt_leg else 1.0

    # desired world rotations of the target bones: (F,N,3,3)
    r_src = _rotation(src_world)
    r_src_rest = _rotation(src_rest)
    r_tgt_rest = _rotation(tgt_rest)
    offset = np.stack([r_src_rest[i].T @ align[j].T @ r_tgt_rest[i] for i, j in enumerate(joints)])
    r_tgt = r_src @ offset[None]
    target_world = np.array(target.matrix_world, dtype=np.float64)
    r_obj = _rotation(target_world)
    r_arm = r_obj.T[None, None] @ r_tgt            # armature-space rotations
    root = joints.index("pelvis")
    src_floor = _floor(src_world, src_rest, joints, time_axis=True)
    tgt_rest_floor, src_rest_floor = _floor(None, tgt_rest, joints), _floor(None, src_rest, joints)

    def to_target(i: int) -> np.ndarray:
        return map_points(src_world[:, i, :3, 3], src_world[0, root, :3, 3], tgt_rest[root, :3, 3], src_floor,
                          tgt_rest_floor, src_rest[i, 2, 3] - src_rest_floor, tgt_rest[i, 2, 3] - tgt_rest_floor,
                          scale)

    root_world = to_target(root)
    if not root_motion:
        root_world[:] = tgt_rest[root, :3, 3]
    goals: dict[str, np.ndarray] = {}
    if feet_ik and root_motion:
        goals = {j: to_target(joints.index(j)) for j in ("left_ankle", "right_ankle") if j in joints}
        plant_feet(r_tgt, root_world, joints, tgt_rest, r_tgt_rest, goals)
        r_arm = r_obj.T[None, None] @ r_tgt
    inv_world = np.linalg.inv(target_world)
    root_arm = (inv_world[:3, :3] @ root_world.T).T + inv_world[:3, 3]

    # bake through Blender's evaluation, parents first
    anim = target.animation_data
    saved_action = anim.action if anim else None
    saved_slot = getattr(anim, "action_slot", None) if anim else None
    saved_basis = _save_pose(target)
    saved_props: dict[str, dict[str, float]] = {}
    action = None
    view_layer = context.view_layer
    try:
        saved_props = _apply_settings(target, settings or {})
        if anim is not None:
            anim.action = None
        for pb in target.pose.bones:
            pb.matrix_basis = Matrix.Identity(4)
        view_layer.update()
        pbs = [target.pose.bones[r[2]] for r in rows]
        quats = np.empty((len(frames), len(rows), 4))
        locs = np.empty((len(frames), 3))
        predictor = _Predictor(target, rows, joints, root)
        predictor.analyse(view_layer)
        levels = predictor.levels
        predictor.learn(pose_matrices(target))
        for f in range(len(frames)):
            # fast path: predict every parent from the last frame's relations, one update
            for attempt in range(PREDICTIONS):
                if attempt:
                    predictor.learn(evaluated)   # relations of this frame, then predict again
                predictor.apply(f, r_arm, root_arm, goals, r_obj, target_world, root_world, tgt_rest, r_tgt_rest)
                view_layer.update()
                evaluated = pose_matrices(target)
                if not predictor.missed(evaluated, r_arm[f], root_arm[f]):
                    break
            # where the prediction missed (parents blended by constraints, e.g. Rigify's
            # neck/head follow), redo those bones and what hangs from them, parents first
            for _ in range(MAX_PASSES):
                missed = predictor.missed(evaluated, r_arm[f], root_arm[f])
                if not missed:
                    break
                redo = predictor.downstream(missed)
                for level in ([i for i in level if i in redo] for level in levels):
                    if not level:
                        continue
                    if goals and any(joints[i] in ("left_hip", "right_hip") for i in level):
                        # re-aim the legs from where the hips really are (constraint-driven rigs)
                        hips = {side: np.array(target_world @ np.append(pbs[joints.index(f"{side}_hip")].matrix
                                                                         .translation, 1.0))[None, :3]
                                for side in ("left", "right") if f"{side}_hip" in joints}
                        r_frame = r_obj[None, None] @ r_arm[f:f + 1]
                        plant_feet(r_frame, root_world[f:f + 1], joints, tgt_rest, r_tgt_rest,
                                   {j: g[f:f + 1] for j, g in goals.items()}, hips)
                        r_arm[f] = r_obj.T[None] @ r_frame[0]
                    for i in level:
                        pb = pbs[i]
                        m = Matrix(r_arm[f, i].tolist()).to_4x4()
                        m.translation = Vector(root_arm[f]) if i == root else pb.matrix.translation
                        pb.matrix = m
                    view_layer.update()
                evaluated = pose_matrices(target)
            predictor.learn(evaluated)
            for i, pb in enumerate(pbs):
                quats[f, i] = pb.matrix_basis.to_quaternion()
            locs[f] = pbs[root].matrix_basis.translation
            report(len(frames) + f + 1)
        action = bpy.data.actions.new(action_name or f"{target.name}_retarget")
        channels = _channels(pbs, quats, locs, root)
        _restore_pose(target, saved_basis)
        keys.write_channels(target, frames.astype(np.float64), channels, action=action)
    except BaseException:
        for bone, props in saved_props.items():
            for key, value in props.items():
                target.pose.bones[bone][key] = value
        _restore_pose(target, saved_basis)
        if action is not None:
            if target.animation_data and target.animation_data.action == action:
                target.animation_data.action = None
            bpy.data.actions.remove(action)
        if anim is not None:
            anim.action = saved_action
            if saved_slot is not None and hasattr(anim, "action_slot"):
                anim.action_slot = saved_slot
        raise
    changed = {b: {k: (settings or {})[b][k] for k in props} for b, props in saved_props.items()}
    return RetargetResult(action=action, frames=frames, bones=[r[2] for r in rows], scale=scale,
                          seconds=time.perf_counter() - started, settings_changed=changed)


def _rotations_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(...,3),(...,3) -> (...,3,3) smallest rotations taking directions a onto b (Rodrigues)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)[..., None, None]
    k = np.zeros(v.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = v[..., 2], -v[..., 1], v[..., 0]
    return np.eye(3) + k + k @ k / np.maximum(1.0 + c, 1e-9)


def plant_feet(r_tgt: np.ndarray, root_world: np.ndarray, joints: Sequence[str], tgt_rest: np.ndarray,
               r_tgt_rest: np.ndarray, goals: dict[str, np.ndarray],
               hips: dict[str, np.ndarray] | None = None) -> None:
    """Two-bone leg IK on the desired world rotations, in place.

    Args:
        r_tgt: (F,N,3,3) desired target world rotations (modified for hips and knees).
        root_world: (F,3) target root (pelvis) world positions.
        joints: (N,) SMPL-X joint of each row.
        tgt_rest: (N,4,4) target rest world matrices; r_tgt_rest: (N,3,3) their rotations.
        goals: ankle joint -> (F,3) world positions the target's ankles must reach (the
            source's ankles through :func:`map_points`).
        hips: side -> (F,3) actual hip positions; default: carried rigidly by the pelvis.

    The knee stays in its current bend plane; ankle world rotations are untouched.
    """
    if "pelvis" not in joints:
        return
    root = joints.index("pelvis")
    for side in ("left", "right"):
        names = (f"{side}_hip", f"{side}_knee", f"{side}_ankle")
        if not all(n in joints for n in names) or names[2] not in goals:
            continue
        h, k, a = (joints.index(n) for n in names)
        rest_h, rest_k, rest_a = tgt_rest[h, :3, 3], tgt_rest[k, :3, 3], tgt_rest[a, :3, 3]
        l1, l2 = np.linalg.norm(rest_k - rest_h), np.linalg.norm(rest_a - rest_k)
        pelvis_delta = r_tgt[:, root] @ r_tgt_rest[root].T          # (F,3,3) world delta of the pelvis
        hip = root_world + pelvis_delta @ (rest_h - tgt_rest[root, :3, 3]) if not hips or side not in hips \
            else hips[side]
        thigh_delta = r_tgt[:, h] @ r_tgt_rest[h].T
        knee = hip + thigh_delta @ (rest_k - rest_h)
        goal = goals[names[2]]
        to_goal = goal - hip
        dist = np.clip(np.linalg.norm(to_goal, axis=-1), abs(l1 - l2) + 1e-6, (l1 + l2) * 0.9999)
        axis = to_goal / np.linalg.norm(to_goal, axis=-1, keepdims=True)
        # bend direction: the current knee's offset from the hip->goal line
        bend = (knee - hip) - np.sum((knee - hip) * axis, axis=-1, keepdims=True) * axis
        bend_norm = np.linalg.norm(bend, axis=-1, keepdims=True)
        fallback = np.cross(axis, np.array([1.0, 0.0, 0.0]))
        bend = np.where(bend_norm > 1e-6, bend / np.maximum(bend_norm, 1e-12), fallback)
        along = (l1 * l1 - l2 * l2 + dist * dist) / (2.0 * dist)
        height = np.sqrt(np.maximum(l1 * l1 - along * along, 0.0))
        new_knee = hip + axis * along[:, None] + bend * height[:, None]
        new_ankle = hip + axis * dist[:, None]
        fix_thigh = _rotations_between(knee - hip, new_knee - hip)
        r_tgt[:, h] = fix_thigh @ r_tgt[:, h]
        shin_delta = r_tgt[:, k] @ r_tgt_rest[k].T
        shin_now = shin_delta @ (rest_a - rest_k)   # world rotations are absolute: the thigh fix does not carry
        fix_shin = _rotations_between(shin_now, new_ankle - new_knee)
        r_tgt[:, k] = fix_shin @ r_tgt[:, k]


def _levels_by_depth(joints: Sequence[str]) -> list[list[int]]:
    """Row indices grouped by SMPL-X depth (parents first)."""
    levels: dict[int, list[int]] = {}
    for i, joint in enumerate(joints):
        levels.setdefault(depth(joint), []).append(i)
    return [levels[d] for d in sorted(levels)]


class _Predictor:
    """One-update bake of a frame: each mapped bone's parent pose is predicted from its
    nearest mapped ancestor's desired pose and their relation on the previous frame
    (exact when parents follow the controls rigidly, as FK chains and most rig helper
    bones do); :meth:`missed` checks the result, the level-by-level passes fix the rest.
    """

    def __init__(self, target: bpy.types.Object, rows: Sequence[tuple[str, str, str]], joints: Sequence[str],
                 root: int) -> None:
        bones = target.pose.bones
        self.pbs = [bones[r[2]] for r in rows]
        self.index = np.array([bones.find(r[2]) for r in rows])
        self.parent = np.array([bones.find(pb.parent.name) if pb.parent else -1 for pb in self.pbs])
        rest = rest_matrices(target)
        self.rest_rel = np.stack([np.linalg.inv(rest[p]) @ rest[i] if p >= 0 else rest[i]
                                  for i, p in zip(self.index, self.parent)])
        mapped = set(joints)
        self.ancestor = []
        for joint in joints:
            j = SMPLX_PARENTS[SMPLX_JOINT_NAMES.index(joint)]
            while j >= 0 and SMPLX_JOINT_NAMES[j] not in mapped:
                j = SMPLX_PARENTS[j]
            self.ancestor.append(-1 if j < 0 else list(joints).index(SMPLX_JOINT_NAMES[j]))
        self.joints, self.root = list(joints), root
        self.levels = _levels_by_depth(joints)
        self.depends: list[set[int]] = [set() for _ in rows]
        self.relation = np.tile(np.eye(4), (len(rows), 1, 1))

    def analyse(self, view_layer: bpy.types.ViewLayer) -> None:
        """Find what each keyed bone's parent really follows (constraints included).

        Each mapped bone is turned a little in turn (one update each, from the rest
        pose): the keyed bones whose parent moves depend on it. The driver of a bone is
        its dependency with the most dependencies itself (the nearest one upstream);
        levels order the bones so that all dependencies come first. For plain
        hierarchies this is the SMPL-X ancestry; for Rigify it finds, e.g., that the
        thighs hang from the lower spine FK control, not from the torso.
        """
        from mathutils import Euler

        target = self.pbs[0].id_data
        base = pose_matrices(target)
        nudge = Euler((0.05, 0.07, 0.03)).to_matrix().to_4x4()
        depends: list[set[int]] = [set() for _ in self.pbs]
        previous = None
        for j, pb in enumerate(self.pbs):
            if previous is not None:
                previous.matrix_basis = Matrix.Identity(4)
            pb.matrix_basis = nudge
            previous = pb
            view_layer.update()
            moved = pose_matrices(target)
            for i, p in enumerate(self.parent):
                if i != j and p >= 0 and np.abs(moved[p] - base[p]).max() > 1e-6:
                    depends[i].add(j)
        if previous is not None:
            previous.matrix_basis = Matrix.Identity(4)
            view_layer.update()
        level = [-1] * len(self.pbs)

        def level_of(i: int, seen: frozenset[int] = frozenset()) -> int:
            if level[i] < 0:
                if i in seen:
                    raise RetargetError(f"bone '{self.pbs[i].name}' depends on itself through constraints")
                level[i] = 1 + max((level_of(j, seen | {i}) for j in depends[i]), default=-1)
            return level[i]

        for i in range(len(self.pbs)):
            level_of(i)
        self.levels = [[i for i in range(len(self.pbs)) if level[i] == k] for k in range(max(level) + 1)]
        self.ancestor = [max(d, key=lambda j: (len(depends[j]), level[j])) if d else -1 for d in depends]
        self.depends = depends

    def downstream(self, rows: set[int]) -> set[int]:
        """``rows`` and every keyed bone whose parent depends on one of them."""
        out = set(rows)
        for i, d in enumerate(self.depends):
            if d & rows:
                out.add(i)
        return out

    def learn(self, evaluated: np.ndarray) -> None:
        """Relations ancestor -> parent from evaluated pose matrices (B,4,4)."""
        for i, (p, a) in enumerate(zip(self.parent, self.ancestor)):
            if p < 0:
                continue
            self.relation[i] = evaluated[p] if a < 0 else np.linalg.inv(evaluated[self.index[a]]) @ evaluated[p]

    def apply(self, f: int, r_arm: np.ndarray, root_arm: np.ndarray, goals: dict[str, np.ndarray],
              r_obj: np.ndarray, target_world: np.ndarray, root_world: np.ndarray, tgt_rest: np.ndarray,
              r_tgt_rest: np.ndarray) -> None:
        desired = np.tile(np.eye(4), (len(self.pbs), 1, 1))
        parent_pose = np.tile(np.eye(4), (len(self.pbs), 1, 1))
        for level in self.levels:
            for i in level:
                a, p = self.ancestor[i], self.parent[i]
                if p >= 0:
                    parent_pose[i] = self.relation[i] if a < 0 else desired[a] @ self.relation[i]
                head = root_arm[f] if i == self.root else (parent_pose[i] @ self.rest_rel[i])[:3, 3]
                desired[i, :3, 3] = head
            if goals and any(self.joints[i] in ("left_hip", "right_hip") for i in level):
                hips = {side: (target_world @ np.append(desired[self.joints.index(f"{side}_hip"), :3, 3], 1.0))[None, :3]
                        for side in ("left", "right") if f"{side}_hip" in self.joints}
                r_frame = r_obj[None, None] @ r_arm[f:f + 1]
                plant_feet(r_frame, root_world[f:f + 1], self.joints, tgt_rest, r_tgt_rest,
                           {j: g[f:f + 1] for j, g in goals.items()}, hips)
                r_arm[f] = r_obj.T[None] @ r_frame[0]
            for i in level:
                desired[i, :3, :3] = r_arm[f, i]
                basis = np.linalg.inv(self.rest_rel[i]) @ np.linalg.inv(parent_pose[i]) @ desired[i]
                self.pbs[i].matrix_basis = Matrix(basis.tolist())

    def missed(self, evaluated: np.ndarray, r_arm_f: np.ndarray, root_pos: np.ndarray) -> set[int]:
        """Rows whose evaluated rotation is off the desired one (and the root if misplaced)."""
        poses = evaluated[self.index]
        rel = np.swapaxes(_rotation(poses[:, :3, :3]), -1, -2) @ _rotation(r_arm_f)
        angle = np.arccos(np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0))
        out = set(np.flatnonzero(angle >= PASS_TOLERANCE).tolist())
        if np.linalg.norm(poses[self.root, :3, 3] - root_pos) > 1e-4 * max(1.0, float(np.abs(root_pos).max())):
            out.add(self.root)
        return out


def _channels(pbs: Sequence[bpy.types.PoseBone], quats: np.ndarray, locs: np.ndarray,
              root: int) -> list[keys.Channel]:
    """Key channels in each bone's own rotation mode (sign/Euler continuous)."""
    channels: list[keys.Channel] = []
    root_name = pbs[root].name
    channels.extend(keys.Channel(f'pose.bones["{root_name}"].location', k, locs[:, k], root_name)
                    for k in range(3))
    for i, pb in enumerate(pbs):
        q = make_continuous(quats[:, i])
        mode = pb.rotation_mode
        base = f'pose.bones["{pb.name}"]'
        if mode == "QUATERNION":
            values, path = q, f"{base}.rotation_quaternion"
        elif mode == "AXIS_ANGLE":
            values = np.array([[*(lambda a: (a[1], *a[0]))(Quaternion(v).to_axis_angle())] for v in q])
            path = f"{base}.rotation_axis_angle"
        else:
            eulers, previous = [], None
            for v in q:
                e = Quaternion(v).to_euler(mode, previous) if previous is not None else Quaternion(v).to_euler(mode)
                eulers.append(tuple(e))
                previous = e
            values, path = np.array(eulers), f"{base}.rotation_euler"
        channels.extend(keys.Channel(path, k, values[:, k], pb.name) for k in range(values.shape[1]))
    return channels
