"""Scripted SMPL-X motions for the ground-truth samples (pure numpy/scipy).

A :class:`Motion` holds T frames of SMPL-X parameters in the figure's own upright
frame (the SMPL-X model frame: metres, y up, the body faces +z, x to the body's
left). The heading is kept apart as ``yaw`` so segments compose; where the figure
stands is decided later (:mod:`samples.pose` keeps the stance foot planted).

Joint angles are anatomical and small; the signs follow from the SMPL-X rest pose
(T-pose, palms down): hip flexion (thigh forward) is a negative x rotation, knee
flexion positive x, ankle dorsiflexion negative x. Arms are posed by aiming bones
(:func:`arm_pose`): upper arm and forearm directions plus the palm normal, which
keeps the elbow a hinge and the forearm twist within range.

Hand poses follow the motion-file contract: (15,3) axis-angle per hand in SMPL-X
finger order, relative to the mean hand (``flat_hand_mean`` False). Builders that
shape fingers take ``hand_mean`` (30,3), the mean hand (left 15 then right 15).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

# body_pose rows (SMPL-X joint index - 1)
L_HIP, R_HIP, SPINE1, L_KNEE, R_KNEE, SPINE2, L_ANKLE, R_ANKLE, SPINE3 = 0, 1, 2, 3, 4, 5, 6, 7, 8
L_FOOT, R_FOOT, NECK, L_COLLAR, R_COLLAR, HEAD = 9, 10, 11, 12, 13, 14
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 15, 16, 17, 18, 19, 20

FINGERS = ("index", "middle", "pinky", "ring", "thumb")
"""SMPL-X finger order of the 15 hand joints (3 joints per finger, base first)."""


@dataclass
class Motion:
    """T frames of SMPL-X parameters of one figure.

    Attributes:
        yaw: (T,) heading, radians about the world vertical; 0 faces world +z.
        root: (T,3) axis-angle of the pelvis in the upright body frame (a lean);
            the world orientation is ``R_y(yaw) @ R(root)``.
        body_pose: (T,21,3) axis-angle, SMPL-X body joints 1..21.
        left_hand, right_hand: (T,15,3) axis-angle relative to the mean hand.
        contact: (T,2) weights 0..1 of the left and right foot carrying the body; the
            weighted ankle point stays where it is on the floor from frame to frame.
    """

    yaw: np.ndarray
    root: np.ndarray
    body_pose: np.ndarray
    left_hand: np.ndarray
    right_hand: np.ndarray
    contact: np.ndarray
    labels: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.yaw.shape[0])

    def world_orient(self) -> np.ndarray:
        """(T,3) axis-angle: pelvis orientation in the y-up world."""
        yaw = Rotation.from_rotvec(np.outer(self.yaw, (0.0, 1.0, 0.0)))
        return (yaw * Rotation.from_rotvec(self.root)).as_rotvec()


def _rest(n: int) -> Motion:
    z = np.zeros
    return Motion(z(n), z((n, 3)), z((n, 21, 3)), z((n, 15, 3)), z((n, 15, 3)), np.ones((n, 2)))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _rx(a: np.ndarray) -> np.ndarray:
    """(T,) angles -> (T,3) axis-angle about x."""
    return np.outer(a, (1.0, 0.0, 0.0))


# -- arms ------------------------------------------------------------------------
def _frames(axis: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """(T,3),(T,3) -> (T,3,3) orthonormal frames with columns (axis, normal', axis x normal')."""
    a = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    n = normal - np.sum(normal * a, axis=-1, keepdims=True) * a
    n = n / np.linalg.norm(n, axis=-1, keepdims=True)
    return np.stack([a, n, np.cross(a, n)], axis=-1)


def aim(side: str, axis: np.ndarray, palm: np.ndarray) -> np.ndarray:
    """(T,3,3) rotation taking an arm bone of the rest pose to ``axis`` with the palm side to ``palm``.

    Rest: the left arm points +x, the right arm -x, palms face -y.
    """
    rest_axis = np.array([1.0 if side == "left" else -1.0, 0.0, 0.0])
    rest = _frames(rest_axis[None], np.array([[0.0, -1.0, 0.0]]))
    return _frames(np.asarray(axis, float), np.asarray(palm, float)) @ np.swapaxes(rest, -1, -2)


def arm_pose(side: str, chest: np.ndarray, upper: np.ndarray, fore: np.ndarray,
             palm: np.ndarray, hand: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local (shoulder, elbow, wrist) axis-angles, each (T,3), that aim one arm.

    Args:
        side: ``left`` or ``right``.
        chest: (T,3,3) world rotation of the collar joint in the upright body frame.
        upper, fore: (T,3) directions of upper arm and forearm in the upright body frame
            (must not be parallel: the elbow hinge axis is their cross product).
        palm: (T,3) direction the palm faces.
        hand: (T,3) direction of the fingers (default: along the forearm).
    """
    upper, fore, palm = (np.asarray(v, float) for v in (upper, fore, palm))
    hinge = np.cross(upper, fore)
    # the upper arm's palm side is along the elbow hinge (SMPL-X rest: elbow bends about y)
    upper_palm = hinge if side == "left" else -hinge
    w_upper = aim(side, upper, upper_palm)
    w_fore = aim(side, fore, palm)
    w_hand = w_fore if hand is None else aim(side, np.asarray(hand, float), palm)
    t = lambda m: np.swapaxes(m, -1, -2)  # noqa: E731
    shoulder = Rotation.from_matrix(t(chest) @ w_upper).as_rotvec()
    elbow = Rotation.from_matrix(t(w_upper) @ w_fore).as_rotvec()
    wrist = Rotation.from_matrix(t(w_fore) @ w_hand).as_rotvec()
    return shoulder, elbow, wrist


def _chest(m: Motion, side: str) -> np.ndarray:
    """(T,3,3) world rotation (upright body frame) of one collar joint."""
    r = Rotation.from_rotvec(m.root)
    for j in (SPINE1, SPINE2, SPINE3, L_COLLAR if side == "left" else R_COLLAR):
        r = r * Rotation.from_rotvec(m.body_pose[:, j])
    return r.as_matrix()


def _set_arm(m: Motion, side: str, upper, fore, palm, hand=None) -> None:
    s, e, w = arm_pose(side, _chest(m, side), upper, fore, palm, hand)
    rows = (L_SHOULDER, L_ELBOW, L_WRIST) if side == "left" else (R_SHOULDER, R_ELBOW, R_WRIST)
    for row, value in zip(rows, (s, e, w), strict=True):
        m.body_pose[:, row] = value


def _mirror(v: np.ndarray) -> np.ndarray:
    """Mirror body-frame directions to the other side (x -> -x)."""
    out = np.array(v, dtype=float, copy=True)
    out[..., 0] *= -1.0
    return out


def _relaxed_arms(n: int, swing: np.ndarray | None = None, side: str = "left") -> tuple[np.ndarray, ...]:
    """Directions (upper, fore, palm) of a hanging arm, swung forward by ``swing`` (T,) radians."""
    upper = np.tile([0.16, -1.0, -0.02], (n, 1))
    fore = np.tile([0.10, -1.0, 0.30], (n, 1))
    palm = np.tile([-1.0, 0.0, -0.25], (n, 1))
    if swing is not None:
        rot = Rotation.from_rotvec(_rx(-swing))
        upper, fore, palm = rot.apply(upper), rot.apply(fore), rot.apply(palm)
        # a forward-swung arm bends its elbow a little more
        fore = Rotation.from_rotvec(_rx(-0.4 * np.clip(swing, 0, None))).apply(fore)
    if side == "right":
        upper, fore, palm = _mirror(upper), _mirror(fore), _mirror(palm)
    return upper, fore, palm


def _stand_legs(m: Motion) -> None:
    m.body_pose[:, L_KNEE, 0] = m.body_pose[:, R_KNEE, 0] = 0.06
    m.body_pose[:, L_HIP, 0] = m.body_pose[:, R_HIP, 0] = -0.03
    m.body_pose[:, L_HIP, 2] = 0.04
    m.body_pose[:, R_HIP, 2] = -0.04


# -- building blocks ---------------------------------------------------------------
def stand(n: int, yaw: float = 0.0) -> Motion:
    """Standing still, arms relaxed at the sides."""
    m = _rest(n)
    m.yaw[:] = yaw
    _stand_legs(m)
    for side in ("left", "right"):
        _set_arm(m, side, *_relaxed_arms(n, side=side))
    m.labels = ["stand"] * n
    return m


# gait keyframes over one cycle (phase 0 = heel strike of that leg; stance until 0.6)
_GAIT_PHASE = np.array([0.0, 0.15, 0.40, 0.60, 0.72, 0.88, 1.0])
_GAIT_HIP_FLEX = np.array([0.38, 0.30, 0.0, -0.20, 0.02, 0.42, 0.38])
_GAIT_KNEE = np.array([0.05, 0.28, 0.08, 0.55, 1.05, 0.25, 0.05])
_GAIT_ANKLE = np.array([0.05, 0.05, -0.12, 0.25, 0.05, -0.05, 0.05])   # + plantarflexion


def walk(n: int, fps: float = 30.0, yaw: float | np.ndarray = 0.0, period_s: float = 1.1,
         phase: float = 0.0) -> Motion:
    """Walking gait (the figure advances because pose.py keeps the stance foot planted).

    Joint angles follow keyframes of a normal gait cycle (60% stance, 40% swing;
    knee flexion peaks early in swing), the arms swing with the opposite leg.

    Args:
        yaw: heading, a constant or (T,) radians (a curved path).
        period_s: seconds per gait cycle (two steps).
        phase: gait phase of the left leg at frame 0, in cycles (0..1).
    """
    m = _rest(n)
    m.yaw[:] = yaw
    t = np.arange(n) / fps
    swing_arm: dict[str, np.ndarray] = {}
    for k, (side, hip, knee, ankle, offset) in enumerate((("left", L_HIP, L_KNEE, L_ANKLE, 0.0),
                                                          ("right", R_HIP, R_KNEE, R_ANKLE, 0.5))):
        p = (t / period_s + phase + offset) % 1.0
        flex = np.interp(p, _GAIT_PHASE, _GAIT_HIP_FLEX)
        m.body_pose[:, hip, 0] = -flex
        m.body_pose[:, knee, 0] = np.interp(p, _GAIT_PHASE, _GAIT_KNEE)
        m.body_pose[:, ankle, 0] = np.interp(p, _GAIT_PHASE, _GAIT_ANKLE)
        # stance 0..0.6 with short blends at heel strike and toe-off
        m.contact[:, k] = np.clip(np.minimum((p + 0.05) / 0.1, (0.65 - p) / 0.1), 0.0, 1.0)
        m.contact[:, k] = np.maximum(m.contact[:, k], np.clip((p - 0.95) / 0.1, 0.0, 1.0))
        # the arm of the other side swings with this leg
        swing_arm["right" if side == "left" else "left"] = 0.8 * (flex - 0.1)
    p = (t / period_s + phase) % 1.0
    m.body_pose[:, SPINE2, 1] = 0.07 * np.sin(2.0 * np.pi * p)     # trunk counter-rotation
    m.root[:, 0] = 0.05                                             # slight forward lean
    for side in ("left", "right"):
        _set_arm(m, side, *_relaxed_arms(n, swing_arm[side], side=side))
    m.labels = ["walk"] * n
    return m


def wave(n: int, fps: float = 30.0, side: str = "right", yaw: float = 0.0,
         hand_mean: np.ndarray | None = None) -> Motion:
    """Standing, one hand raised beside the head and waving, palm to the front; the
    waving hand is open (flat) when ``hand_mean`` (30,3) is given, else relaxed."""
    m = stand(n, yaw)
    if hand_mean is not None:
        if side == "left":
            m.left_hand[:] = -hand_mean[:15]
        else:
            m.right_hand[:] = -hand_mean[15:]
    t = np.arange(n) / fps
    sway = 0.38 * np.sin(2.0 * np.pi * 1.6 * t)          # forearm swings in the frontal plane
    upper = np.tile([0.92, 0.25, 0.18], (n, 1))
    fore = np.stack([0.15 + sway, np.ones(n), 0.12 * np.ones(n)], axis=-1)
    palm = np.tile([0.0, 0.0, 1.0], (n, 1))
    hand = fore + np.array([0.0, 0.0, -0.08])
    if side == "right":
        upper, fore, palm, hand = _mirror(upper), _mirror(fore), palm, _mirror(hand)
    _set_arm(m, side, upper, fore, palm, hand)
    m.body_pose[:, HEAD, 2] = 0.08 if side == "right" else -0.08
    m.labels = [f"wave_{side}"] * n
    return m


def crouch(n: int, depth: float = 1.0, yaw: float = 0.0) -> Motion:
    """Down into a crouch and back up (feet flat, trunk leaning, arms forward for balance)."""
    m = stand(n, yaw)
    d = depth * 0.5 * (1.0 - np.cos(2.0 * np.pi * np.arange(n) / max(n - 1, 1)))
    m.root[:, 0] = 0.45 * d
    for hip, knee, ankle in ((L_HIP, L_KNEE, L_ANKLE), (R_HIP, R_KNEE, R_ANKLE)):
        m.body_pose[:, hip, 0] = -0.03 - 1.60 * d
        m.body_pose[:, knee, 0] = 0.06 + 1.60 * d
        m.body_pose[:, ankle, 0] = -0.45 * d
    m.body_pose[:, SPINE2, 0] = 0.10 * d
    m.body_pose[:, NECK, 0] = -0.25 * d
    m.body_pose[:, HEAD, 0] = -0.25 * d                  # keep looking ahead
    for side in ("left", "right"):
        up, fo, pa = _relaxed_arms(n, side=side)
        lift = Rotation.from_rotvec(_rx(-1.1 * d))
        _set_arm(m, side, lift.apply(up), lift.apply(Rotation.from_rotvec(_rx(-0.4 * d)).apply(fo)),
                 lift.apply(pa))
    m.labels = ["crouch"] * n
    return m


def turn(n: int, start_yaw: float, end_yaw: float, fps: float = 30.0) -> Motion:
    """Turning on the spot about the vertical axis with small stepping (in place)."""
    m = stand(n)
    s = _smoothstep(np.arange(n) / max(n - 1, 1))
    m.yaw[:] = start_yaw + (end_yaw - start_yaw) * s
    t = np.arange(n) / fps
    ph = 2.0 * np.pi * t / 0.9
    for hip, knee, offset in ((L_HIP, L_KNEE, 0.0), (R_HIP, R_KNEE, np.pi)):
        lift = np.clip(np.sin(ph + offset), 0.0, None) * np.sin(np.pi * s)
        m.body_pose[:, hip, 0] += -0.35 * lift
        m.body_pose[:, knee, 0] += 0.60 * lift
        m.contact[:, 0 if hip == L_HIP else 1] = np.clip(1.0 - 4.0 * lift, 0.02, 1.0)
    m.labels = ["turn"] * n
    return m


def _finger_curl(mcp: float, pip: float, dip: float, thumb: float, side: str) -> np.ndarray:
    """(15,3) absolute finger rotations curling toward the palm (flat hand = 0).

    At rest fingers point along +x (left) / -x (right) with palms down: flexion is a
    rotation about -z for the left hand and +z for the right.
    """
    sign = -1.0 if side == "left" else 1.0
    out = np.zeros((15, 3))
    for f, name in enumerate(FINGERS):
        if name == "thumb":
            out[3 * f:3 * f + 3, 1] = -sign * thumb * np.array([0.3, 0.6, 0.5])
        else:
            out[3 * f:3 * f + 3, 2] = sign * np.array([mcp, pip, dip])
    return out


def two_bone(shoulder: np.ndarray, target: np.ndarray, upper_len: float, fore_len: float,
             pole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Analytic two-bone IK: (T,3) upper-arm and forearm vectors reaching ``target``.

    Args:
        shoulder, target: (T,3) positions; the target is pulled in when out of reach.
        upper_len, fore_len: bone lengths, metres.
        pole: (T,3) direction the elbow points to.
    """
    d_vec = target - shoulder
    d = np.clip(np.linalg.norm(d_vec, axis=-1, keepdims=True), 1e-6, 0.999 * (upper_len + fore_len))
    u = d_vec / np.linalg.norm(d_vec, axis=-1, keepdims=True)
    cos_a = np.clip((upper_len ** 2 + d ** 2 - fore_len ** 2) / (2.0 * upper_len * d), -1.0, 1.0)
    v = pole - np.sum(pole * u, axis=-1, keepdims=True) * u
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    elbow = shoulder + upper_len * (cos_a * u + np.sqrt(1.0 - cos_a ** 2) * v)
    return elbow - shoulder, shoulder + d * u - elbow


def clap_interlock(n: int, hand_mean: np.ndarray, rest_joints: np.ndarray, fps: float = 30.0,
                   yaw: float = 0.0) -> Motion:
    """Hands come together in front of the chest: two claps, then fingers interlock.

    Phases: raise (first 20%), clap twice (to 60%), palms pressed together with the
    fingers curled over the back of the other hand (rest). The wrists are placed by
    two-bone IK on this figure's ``rest_joints`` (55,3) so the palms meet at the midline.
    """
    del fps
    m = stand(n, yaw)
    u = np.arange(n) / max(n - 1, 1)
    raise_w = _smoothstep(u / 0.2)[:, None]
    clap_phase = np.clip((u - 0.2) / 0.4, 0.0, 1.0)
    apart = np.where(u < 0.6, 0.5 * (1.0 + np.cos(2.0 * np.pi * 2.0 * clap_phase)), 0.0)
    apart = np.where(u < 0.2, 1.0, apart)[:, None]
    interlock = _smoothstep((u - 0.6) / 0.12)
    j = {name: rest_joints[i + 1] - rest_joints[0] for i, name in
         enumerate(("l_hip", "r_hip", "spine1", "l_knee", "r_knee", "spine2", "l_ankle", "r_ankle", "spine3",
                    "l_foot", "r_foot", "neck", "l_collar", "r_collar", "head", "l_shoulder", "r_shoulder",
                    "l_elbow", "r_elbow", "l_wrist", "r_wrist"))}
    shoulder = np.tile(j["l_shoulder"], (n, 1))
    upper_len = float(np.linalg.norm(j["l_elbow"] - j["l_shoulder"]))
    fore_len = float(np.linalg.norm(j["l_wrist"] - j["l_elbow"]))
    target = np.column_stack([0.024 + 0.15 * apart[:, 0], np.full(n, j["l_shoulder"][1] - 0.2),
                              np.full(n, j["l_shoulder"][2] + 0.30)])
    up_ik, fo_ik = two_bone(shoulder, target, upper_len, fore_len, np.tile([0.6, -1.0, -0.3], (n, 1)))
    rel_up, rel_fo, rel_pa = _relaxed_arms(n, side="left")
    w = raise_w
    upper = (1 - w) * rel_up + w * up_ik / np.linalg.norm(up_ik, axis=-1, keepdims=True)
    fore = (1 - w) * rel_fo + w * fo_ik / np.linalg.norm(fo_ik, axis=-1, keepdims=True)
    palm = (1 - w) * rel_pa + w * np.array([-1.0, 0.0, 0.0])
    hand = (1 - w) * rel_fo + w * np.array([-0.05, 0.45, 0.9])
    _set_arm(m, "left", upper, fore, palm, hand)
    _set_arm(m, "right", _mirror(upper), _mirror(fore), _mirror(palm), _mirror(hand))
    for side, key, mean in (("left", "left_hand", hand_mean[:15]), ("right", "right_hand", hand_mean[15:])):
        flat = -mean
        curl = _finger_curl(1.3, 0.9, 0.4, 0.5, side) - mean
        hands = w[:, :, None] * flat[None]
        hands = hands * (1 - interlock[:, None, None]) + interlock[:, None, None] * curl[None]
        if key == "left_hand":
            m.left_hand = hands
        else:
            m.right_hand = hands
    m.labels = ["clap" if x < 0.6 else "interlock" for x in u]
    return m


# -- composition -------------------------------------------------------------------
def concat(parts: list[Motion], blend: int | list[int] = 8) -> Motion:
    """Play motions one after another, cross-fading ``blend`` frames around each cut
    (one number for every cut, or one per cut).

    Rotations are blended per joint with quaternion slerp (nlerp); yaw linearly.
    The result has ``sum(len(p))`` frames.
    """
    out = _rest(0)
    for key in ("yaw", "root", "body_pose", "left_hand", "right_hand", "contact"):
        setattr(out, key, np.concatenate([getattr(p, key) for p in parts], axis=0))
    out.labels = [lab for p in parts for lab in p.labels]
    blends = [blend] * (len(parts) - 1) if isinstance(blend, int) else list(blend)
    start = 0
    for a, b, width in zip(parts[:-1], parts[1:], blends, strict=True):
        cut = start + len(a)
        h = width // 2
        lo, hi = max(cut - h, start), min(cut + h, cut + len(b))
        for f in range(lo, hi):
            w = float(_smoothstep(np.array((f - lo + 0.5) / max(hi - lo, 1))))
            fa, fb = min(f - start, len(a) - 1), max(f - cut, 0)
            out.yaw[f] = (1 - w) * a.yaw[fa] + w * b.yaw[fb]
            out.contact[f] = (1 - w) * a.contact[fa] + w * b.contact[fb]
            for key in ("root", "body_pose", "left_hand", "right_hand"):
                va = np.asarray(getattr(a, key)[fa]).reshape(-1, 3)
                vb = np.asarray(getattr(b, key)[fb]).reshape(-1, 3)
                getattr(out, key)[f] = _nlerp(va, vb, w).reshape(getattr(out, key)[f].shape)
        start = cut
    return out


def _nlerp(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """(N,3),(N,3) axis-angles -> (N,3) rotations part-way from a to b."""
    qa, qb = Rotation.from_rotvec(a).as_quat(), Rotation.from_rotvec(b).as_quat()
    qb = np.where(np.sum(qa * qb, axis=-1, keepdims=True) < 0, -qb, qb)
    q = (1 - w) * qa + w * qb
    return Rotation.from_quat(q / np.linalg.norm(q, axis=-1, keepdims=True)).as_rotvec()
