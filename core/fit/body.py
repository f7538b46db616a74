"""Fitting SMPL-X pose, shape and placement to tracked landmarks: the optimisation.

Per person, batched over all frames, and everyone in the clip in one batch (torch, CPU or
CUDA; each person's losses are their own, see :class:`_Group`):

1. **Lift** (no camera): global orientation (6D), 21 body joints, 2 x 15 finger joints
   (axis-angle, offsets from the mean hand) and 10 betas shared by all frames are fitted
   to MediaPipe's metric, hip-centred 3D landmarks (body and hands). The global
   orientation starts from a per-frame Kabsch fit of the torso, so this is short.
2. **Focal** (shared by everyone in the clip): see :mod:`core.fit.focal`.
3. **Place**: the per-frame translation is solved linearly for that focal, then
   everything is refined against the 2D landmarks under full perspective (robust,
   confidence weighted), keeping the 3D landmarks as a softer term, with joint
   limits, a pose prior, temporal smoothness, hand interpenetration and, in the
   second half, foot contact on a ground plane fitted to the planted feet.

Frames where a person is not seen carry no data term: they are bridged by the
temporal terms (and flagged invalid beyond ``max_gap_s``); when the legs' motion repeats
(walking), the exported body pose of a gap follows the seen cycle instead
(:func:`core.fit.smooth.fill_gaps_periodic`). Nothing here produces
NaN: non-finite inputs are zeroed with zero confidence in :mod:`core.fit.observations`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from core.fit import contact as contact_mod
from core.fit import focal as focal_mod
from core.fit import hands as hands_mod
from core.fit import priors
from core.fit.face import jaw_from_face
from core.fit.flips import repair_body_flips
from core.fit.init import initial_pose, kabsch
from core.fit.observations import (PersonObservations, align_to_view_rays, downweight_frames,
                                   gap_edge_frames, off_heading_frames)
from core.fit.optim import Adam
from core.fit.smooth import fill_gaps, fill_gaps_periodic, motion_period, smooth_positions, smooth_rotations
from models import keypoints as kp
from models import kinematics as kin
from models.body import BodyModel

ProgressFn = Callable[[int, str], None]


@dataclass
class FitOptions:
    """Settings of the fit.

    hands: fit the fingers (else they stay at the mean hand); face: jaw from face landmarks;
    smoothing: temporal smoothing strength (0 = off, 1 = default);
    focal: the user's focal (None = estimate); lens: a prior on the focal from the footage's
    metadata (None: the field-of-view prior); scene: the focal the scene's lines at right angles give
    (:mod:`core.scene_focal`; None: none); device: torch device;
    lift_iterations / place_iterations: optimiser steps of the two stages;
    max_gap_s: unseen spans up to this long are filled and marked valid.
    """

    hands: bool = True
    face: bool = True
    smoothing: float = 1.0
    focal: focal_mod.FocalEstimate | None = None
    lens: focal_mod.LensPrior | None = None
    scene: focal_mod.LensPrior | None = None
    device: str = "cpu"
    lift_iterations: int = 50
    place_iterations: int = 60
    max_gap_s: float = 0.5
    dtype: torch.dtype = torch.float32


@dataclass
class PersonFit:
    """The fitted motion of one person (arrays of the motion file, T frames)."""

    track_id: int
    valid: np.ndarray            # (T,) bool
    confidence: np.ndarray       # (T,) 0..1
    betas: np.ndarray            # (10,)
    global_orient: np.ndarray    # (T, 3)
    body_pose: np.ndarray        # (T, 21, 3)
    left_hand_pose: np.ndarray   # (T, 15, 3)
    right_hand_pose: np.ndarray  # (T, 15, 3)
    jaw_pose: np.ndarray         # (T, 3)
    expression: np.ndarray       # (T, 10)
    transl: np.ndarray           # (T, 3) metres, camera frame
    joints: np.ndarray           # (T, 55, 3) metres, camera frame
    flips_repaired: int = 0


@dataclass
class ClipFit:
    """Everyone in a clip plus the shared camera."""

    people: list[PersonFit]
    focal: focal_mod.FocalEstimate
    center: np.ndarray                      # (2,) px
    image_size: tuple[int, int]
    ground: contact_mod.GroundPlane | None = None
    seconds: dict[str, float] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# weights of the terms (losses are means over frames of sums over points)
# ---------------------------------------------------------------------------------------
W_LIFT_3D = 1.0
W_PLACE_3D = 0.3
W_HAND_3D = 4.0
W_2D = 1.0
W_HAND_2D = 2.0
ROBUST_SIGMA_M = 0.08        # Geman-McClure scale of 2D residuals, metres at the person
HAND_ROBUST_SIGMA_M = 0.02
W_PRIOR = 2e-3
W_HIP_SIDEWAYS = 0.5          # hips' abduction and twist (walking and most motion swing the legs forward)
W_KNEE_HINGE = 0.25           # knees' twist and sideways bend (a knee is a hinge), on frames whose ankle
W_ANKLE_TWIST = 0.25          # landmark is seen; ankles' twist, on frames whose toe landmark is seen
HINGE_MIN_CONF = 0.3          # ("seen": confidence at least this). Measured: three_people_50mm PA 49.0 ->
# 45.4, default 39.0 -> 37.8, long 24.3 -> 23.4, closeup 38.5 -> 38.4, medium 46.65 -> 46.56, hands_clap 33.9
# (ankles out of frame: Adam moves a joint that only a prior acts on by full steps, so the gate is hard)
W_HAND_PRIOR = 2e-4
W_LIMITS = 1.0
W_BETAS = 2e-3
W_SMOOTH = 0.01               # joint acceleration (camera frame), per unit smoothing
W_SMOOTH_POSE = 0.0           # axis-angle acceleration
W_CONTACT = 20.0
SMOOTH_SIGMA_FRAMES = 2.0     # zero-phase Gaussian sigma at smoothing 1 (frames at 30 fps)
NOISE_REF_MM_PER_PX = 5.5     # a person whose pixels span more metres than this (about 300 px tall or less)
NOISE_SIGMA_POW = 0.75        # is smoothed more: sigma * (mm per px / ref) ** pow, up to
NOISE_SIGMA_MAX = 2.0         # this factor (their landmarks' pixel noise is more metres of pose noise)
DEPTH_SIGMA_FACTOR = 1.0      # depth (the noisiest part of the translation) is smoothed this much more;
# measured on the samples: 2.0 cuts foot skate (three_people 69 -> 52 mm, medium 21 -> 18.5) and the
# evaluation's id switches on three_people (2 -> 0), but long_85mm skate 5.0 -> 5.5 and 2D +0.1-0.2 px
W_PENETRATION = 200.0
OFF_HEADING_WEIGHT = 0.2      # confidence factor of frames whose torso faces far off its neighbours'
OFF_HEADING_WINDOW = 15       # (frames each side)
OFF_HEADING_DEG = 60.0        # (observations.off_heading_frames); measured: three_people accel 5.24 -> 4.78
INIT_MIN_CONF = 0.25          # torso landmarks less confident than this do not seed the initial pose
LEG_DEPTH_FALLOFF = 8.0       # placing: the depth of the legs' 3D landmarks weighs (ref / mm per px) ** this
# for small figures (1 up to NOISE_REF_MM_PER_PX): MediaPipe's 3D on a figure ~150 px tall collapses the
# legs' forward swing (feet 0-0.19 m apart in depth where they are 0.4-0.6 m), and that term held the legs
# straight against the 2D; measured on three_people_50mm's far walker: PA 80 -> 77 mm, lag 5 -> 1 frame
PLACE_3D_FALLOFF = 2.0        # placing: all 3D landmarks weigh (ref / mm per px) ** this for small figures
# (1 down to NOISE_SIGMA_MAX ** -2: their 3D is the detector's guess on fewer pixels); measured: three_people
# PA 45.4 -> 44.9 mm, long_85mm 23.38 -> 23.42, default, hands_clap, medium, closeup unchanged
PERIODIC_GAPS = True          # gaps in a repeating motion are filled from one cycle away (export); measured:
PERIOD_MIN_CORR = 0.6         # three_people_50mm PA 51.2 -> 50.7 (a near walker's 9-frame gap: 75 -> ~45 mm)
GAP_EDGE_S = 0.1              # seen frames this close to an unseen span inside the clip (half occluded)
GAP_EDGE_WEIGHT = 0.1         # weigh this much (observations.gap_edge_frames); measured on
# three_people_50mm: PA 50.7 -> 49.0 mm (far walker 76.6 -> 71.9), accel 4.79 -> 4.62 (weight 0.2: 50.4;
# reach 2 frames: 49.9, 4 frames: 49.0)
VIEW_RAY_ALIGNMENT = False    # turn crop-aligned 3D landmarks onto each person's view ray (mixed on the samples: off)


BODY_MAP = kp.POSE_MAP
"""Pose landmarks the body model explains (rows of the fitter's body arrays, in this order)."""
_ALL_MAP = kp.LandmarkMap.concat(kp.POSE_MAP, kp.LEFT_HAND_MAP, kp.RIGHT_HAND_MAP)
_NB = len(BODY_MAP.landmarks)
_NH = len(kp.LEFT_HAND_MAP.landmarks)
_LM = kp.POSE_LANDMARK_NAMES.index
HIP_ROWS = BODY_MAP.rows([_LM("left_hip"), _LM("right_hip")])
SHOULDER_ROWS = BODY_MAP.rows([_LM("left_shoulder"), _LM("right_shoulder")])
FOOT_ROWS = [BODY_MAP.rows([_LM(f"{s}_ankle"), _LM(f"{s}_heel"), _LM(f"{s}_foot_index")])
             for s in ("left", "right")]   # ankle, heel, toe tip per foot
_LEG_ROWS = BODY_MAP.rows([_LM(f"{s}_{j}") for s in ("left", "right")
                          for j in ("knee", "ankle", "heel", "foot_index")])
_LEG_JOINTS = [0, 1, 3, 4]    # body_pose rows of the hips and knees
_ANKLES = [_LM("left_ankle"), _LM("right_ankle")]
_TOES = [_LM("left_foot_index"), _LM("right_foot_index")]
_TORSO_LANDMARKS = [_LM(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]


def _gmof(sq: Tensor, sigma2: float | Tensor) -> Tensor:
    """Geman-McClure of squared residuals: sigma^2 r^2 / (sigma^2 + r^2) (sigma^2: scalar or per marker)."""
    return sigma2 * sq / (sigma2 + sq)


_SIGMA_2D = np.array([ROBUST_SIGMA_M] * _NB + [HAND_ROBUST_SIGMA_M] * 2 * _NH)
"""Geman-McClure scale of each marker's 2D residual (metres at the person): body, then hands."""
# 3D landmarks are relative: body markers to the mid-hip, hand markers to their wrist (the
# mean of rows _CENTRE_A and _CENTRE_B of the same frame)
_CENTRE_A = torch.as_tensor([HIP_ROWS[0]] * _NB + [_NB] * _NH + [_NB + _NH] * _NH)
_CENTRE_B = torch.as_tensor([HIP_ROWS[1]] * _NB + [_NB] * _NH + [_NB + _NH] * _NH)


class _ShapeMap:
    """What the betas shape, as one affine map: the rest joints (J, 3) and the markers' offsets
    from their joints (M, 3) of :data:`_ALL_MAP` (metres). Both are affine in the betas (the body
    models' joints are a fixed regressor of a linear shape space; the markers' offsets are fixed
    or fractions of bones), so the map is read off the model once, at zero and at each unit
    beta, and each step costs one matrix product instead of evaluating the model."""

    def __init__(self, model: BodyModel, dev: torch.device, dt: torch.dtype) -> None:
        unit = torch.cat((torch.zeros(1, 10), torch.eye(10)), 0)
        probe = torch.linspace(-1.0, 1.0, 10)[None]
        with torch.no_grad():
            rest, flat = self._evaluate(model, torch.cat((unit, probe), 0).to(model.device, dt))
        flat = flat.cpu().double()                                               # (12, K)
        constant, linear = flat[0], flat[1:11] - flat[0]                          # (K,), (10, K)
        if not torch.allclose(constant + probe.double() @ linear, flat[11:], atol=1e-5):
            raise ValueError("the body model's rest joints are not affine in its betas")
        self.num_joints = rest.shape[1]
        self.constant, self.linear = constant.to(dev, dt), linear.to(dev, dt)

    @staticmethod
    def _evaluate(model: BodyModel, betas: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 10) -> rest joints (B, J, 3) and (B, K) rest joints and marker offsets, flat."""
        rest = model.rest_joints(betas)
        return rest, torch.cat((rest.flatten(1), _ALL_MAP.local_offsets(rest).flatten(1)), 1)

    def __call__(self, betas: Tensor) -> tuple[Tensor, Tensor]:
        """(P, 10) betas -> rest joints (P, J, 3) and marker offsets (P, M, 3)."""
        flat = torch.addmm(self.constant, betas, self.linear)
        j = self.num_joints * 3
        return flat[:, :j].unflatten(1, (-1, 3)), flat[:, j:].unflatten(1, (-1, 3))


class _Person:
    """Tensors and parameters of one person's problem."""

    def __init__(self, obs: PersonObservations, model: BodyModel, options: FitOptions, fps: float) -> None:
        self.obs = obs
        self.model = model
        self.options = options
        dev, dt = torch.device(options.device), options.dtype
        self.dev, self.dt = dev, dt
        self.T = obs.num_frames
        self.P = 1                    # people in this problem (see _Group); rows = P * T
        self.parents = np.asarray(model._parents_list)
        self.seen = obs.valid.copy()
        max_gap = max(1, int(round(options.max_gap_s * fps)))
        self.valid = self.seen | _short_gaps(self.seen, max_gap)

        def t(a: np.ndarray) -> Tensor:
            return torch.as_tensor(np.asarray(a, np.float32), device=dev, dtype=dt)

        rows = BODY_MAP.landmarks
        self.w_body_np = (obs.body_conf[:, rows] * BODY_MAP.weights[None]).astype(np.float64)   # (T, N)
        self.body_2d_np = obs.body_2d[:, rows].astype(np.float64)                                # (T, N, 2)
        self.w_body = t(self.w_body_np)
        self.body_2d = t(self.body_2d_np)
        hips = obs.body_3d[:, BODY_MAP.landmarks[HIP_ROWS]].mean(1, keepdims=True)
        self.body_3d = t(obs.body_3d[:, rows] - hips)
        hand_conf = obs.hand_conf if options.hands else np.zeros_like(obs.hand_conf)
        self.w_hand = t(hand_conf)                                           # (2, T, 21)
        self.hand_2d = t(obs.hand_2d)
        self.hand_3d = t(obs.hand_3d - obs.hand_3d[:, :, :1])               # wrist-relative
        seen_lm = (obs.body_conf >= HINGE_MIN_CONF) & self.seen[:, None]           # (T, 33)
        self.body_q = t(_body_pose_weights(self.seen, seen_lm[:, _ANKLES], seen_lm[:, _TOES]))  # (T, 21, 3)
        # every marker (body, left hand, right hand) in one array, each with its term weights
        w_hands = (self.w_hand[0], self.w_hand[1])
        self.target_2d = torch.cat((self.body_2d, self.hand_2d[0], self.hand_2d[1]), 1)     # (T, M, 2)
        self.target_3d = torch.cat((self.body_3d, self.hand_3d[0], self.hand_3d[1]), 1)     # (T, M, 3)
        self.w_2d = torch.cat((W_2D * self.w_body, *(W_HAND_2D * w for w in w_hands)), 1)  # (T, M)
        self.w_lift_3d = torch.cat((W_LIFT_3D * self.w_body, *(W_HAND_3D * w for w in w_hands)), 1)
        self.w_place_3d = torch.cat((W_PLACE_3D * self.w_body,
                                     *(W_PLACE_3D * W_HAND_3D * w for w in w_hands)), 1)
        self.smooth = max(options.smoothing, 0.0)
        self.axis_w = torch.ones(self.T, _NB + 2 * _NH, 3, device=dev, dtype=dt)  # (T, M, xyz) 3D terms
        self.limits_body = t(priors.body_limits())
        limits_hand = np.stack([priors.hand_limits("left"), priors.hand_limits("right")])
        self.limits_hand = t(limits_hand)[:, None]                          # (2, 1, 15, 3, 2)
        self.hand_mean = model.hand_mean.to(dev, dt).reshape(2, 1, 15, 3)   # left, right
        self.radii = t(hands_mod.hand_sphere_radii())
        self.torso_idx = hands_mod.torso_joint_indices()
        self.torso_radii = t(np.array([r for _, r in hands_mod.TORSO_SPHERES], np.float32))
        self.foot_idx = FOOT_ROWS
        self.sigma2_2d = torch.as_tensor(_SIGMA_2D**2, device=dev, dtype=dt)
        self.centre_a, self.centre_b = _CENTRE_A.to(dev), _CENTRE_B.to(dev)
        self.shape_map = _ShapeMap(model, dev, dt)
        self.jaw = t(jaw_from_face(obs.face_2d, obs.face_conf, self.T) if options.face
                     else np.zeros((self.T, 3), np.float32))
        eyes = torch.zeros_like(self.jaw)[:, None].expand(-1, 2, -1)
        self.jaw_eyes = torch.cat((self.jaw[:, None], eyes), 1)            # (T, 3, 3) joints 22-24, fixed
        self._init_params()
        self.focal = 1.0
        self.target_n = self.target_2d            # (T, M, 2) (target - centre) / focal: set_camera
        self.planted: Tensor | None = None
        self.ground: tuple[Tensor, float] | None = None

    # -- parameters -------------------------------------------------------------------
    def _init_params(self) -> None:
        dev, dt, T = self.dev, self.dt, self.T
        with torch.no_grad():
            rest = self.model.rest_joints(torch.zeros(1, 10, device=dev, dtype=dt).to(self.model.device))
            torso_rows = BODY_MAP.rows(_TORSO_LANDMARKS)
            local = BODY_MAP.local_offsets(rest)[0, torso_rows].cpu().numpy()
        rest = rest[0].to(dev, dt).cpu().numpy()
        torso = _TORSO_LANDMARKS
        src = rest[BODY_MAP.joints[torso_rows]] + local
        # frames whose torso landmarks are all but distrusted start from their neighbours' pose
        known = self.seen & (self.obs.body_conf[:, torso].max(1) >= INIT_MIN_CONF)
        known = known if known.any() else self.seen
        target = fill_gaps(self.obs.body_3d[:, torso], known)
        w = np.where(known[:, None], np.clip(self.obs.body_conf[:, torso], 0.05, 1.0), 1.0)
        body_pose = np.zeros((T, 21, 3), np.float32)
        if self.seen.any():
            rot = kabsch(src, target, w)
            hand_ok = self.obs.hand_conf.max(-1) > 0
            hands = np.stack([fill_gaps(self.obs.hand_3d[s], hand_ok[s]) for s in range(2)])
            body_pose, _ = initial_pose(rest, self.parents, rot, fill_gaps(self.obs.body_3d, known),
                                        hands if self.options.hands else None,
                                        np.ones_like(hand_ok) if self.options.hands else None)
        else:  # nothing seen: upright, facing the camera
            rot = np.broadcast_to(np.diag([1.0, -1.0, -1.0]), (T, 3, 3)).copy()
        self.go6 = torch.nn.Parameter(kin.matrix_to_rotation_6d(torch.as_tensor(rot, dtype=dt)).to(dev))
        self.body = torch.nn.Parameter(torch.as_tensor(body_pose, dtype=dt, device=dev))
        self.hands = torch.nn.Parameter(torch.zeros(2, T, 15, 3, device=dev, dtype=dt))
        self.betas = torch.nn.Parameter(torch.zeros(10, device=dev, dtype=dt))
        self.transl = torch.nn.Parameter(torch.zeros(T, 3, device=dev, dtype=dt))

    # -- model evaluation ---------------------------------------------------------------
    def forward(self, with_transl: bool) -> dict[str, Tensor]:
        """Joints, markers and world rotations for the current parameters (camera frame if
        ``with_transl``, else about the model origin)."""
        rows = self.go6.shape[0]
        rest, offsets = self.shape_map(self.betas.reshape(-1, self.betas.shape[-1]))   # (P, J, 3), (P, M, 3)
        if self.P == 1:
            rest = rest[0]                                                        # (J, 3); offsets (1, M, 3)
        else:
            rest, offsets = rest.repeat_interleave(self.T, 0), offsets.repeat_interleave(self.T, 0)
        fingers = self.hands + self.hand_mean                                     # (2, rows, 15, 3)
        local = torch.cat((self.body, self.jaw_eyes, fingers[0], fingers[1]), 1)  # joints 1.. (rows, 54, 3)
        world, every = kin.posed_points(kin.rotation_6d_to_matrix(self.go6), local, rest,
                                        self.model._parents_list, self.transl if with_transl else None,
                                        _ALL_MAP.joints, offsets)   # (T, J, 3, 4), (T, N + 42, 3)
        body_m = every[:, :_NB]
        hand_m = every[:, _NB:].unflatten(1, (2, _NH)).transpose(0, 1)           # (2, T, 21, 3) view
        return {"joints": world[..., 3], "rot": world[..., :3], "body": body_m, "hands": hand_m, "rest": rest,
                "every": every, "fingers": fingers}

    # -- loss terms ----------------------------------------------------------------------
    def _regularisers(self, out: dict[str, Tensor]) -> Tensor:
        T = self.T
        # the quadratic costs on the body pose (pose prior, sideways hips, hinged knees, ankle
        # twist): one weight per frame, joint and axis (see _body_pose_weights)
        loss = (self.body_q * self.body**2).sum() / T
        loss = loss + W_LIMITS * priors.limit_penalty(self.body, self.limits_body) / T
        loss = loss + W_LIMITS * priors.limit_penalty(out["fingers"], self.limits_hand) / T
        loss = loss + W_HAND_PRIOR * (self.hands**2).sum() / T
        loss = loss + W_BETAS * (self.betas**2).sum()
        if T >= 3 and self.smooth > 0 and W_SMOOTH_POSE > 0:  # (off by default: skip the work)
            pose = torch.cat((self.body, self.hands[0], self.hands[1]), 1)
            acc_pose = self._accel(pose)
            loss = loss + self.smooth * W_SMOOTH_POSE * (acc_pose**2).sum() / T
            g = kin.rotation_6d_to_matrix(self.go6)
            acc_go = self._accel(g)
            loss = loss + self.smooth * W_SMOOTH_POSE * 10 * (acc_go**2).sum() / T
        return loss

    def lift_loss(self) -> Tensor:
        out = self.forward(with_transl=False)
        return self._landmark_3d_loss(out["every"], self.w_lift_3d) + self._regularisers(out)

    def _landmark_3d_loss(self, every: Tensor, weights: Tensor) -> Tensor:
        """Markers (T, M, 3) against the 3D landmarks: body relative to the mid-hip, hands to
        their wrist; weights (T, M) per marker."""
        centre = 0.5 * (every.index_select(1, self.centre_a) + every.index_select(1, self.centre_b))
        res = ((every - centre) - self.target_3d) ** 2
        res = res * self.axis_w
        return (weights[..., None] * res).sum() / self.T

    def place_loss(self) -> Tensor:
        out = self.forward(with_transl=True)
        T = self.T
        body, hands, every = out["body"], out["hands"], out["every"]
        loss = self._reprojection_loss(every)
        loss = loss + self._landmark_3d_loss(every, self.w_place_3d)
        joints = out["joints"]
        if T >= 3 and self.smooth > 0:
            acc = self._accel(joints)
            loss = loss + self.smooth * W_SMOOTH * (acc**2).sum() / T
        if self.options.hands:
            torso = joints[:, self.torso_idx]
            loss = loss + W_PENETRATION * hands_mod.penetration_loss(
                hands[0], hands[1], self.radii, torso, self.torso_radii) / T
        loss = loss + self._contact_loss(body)
        return loss + self._regularisers(out)

    def _reprojection_loss(self, every: Tensor) -> Tensor:
        """Markers (T, M, 3) in the camera frame against the 2D landmarks: robust (Geman-McClure),
        confidence-weighted squared residuals in metres at the marker's depth,
        ``(x / z - (u - c) / f) * z`` (the pixel residual times depth / focal)."""
        z = every[..., 2:3]
        res = (every[..., :2] / z.clamp(min=0.05) - self.target_n) * z.detach().clamp(min=0.1)
        return (self.w_2d * _gmof(res.square().sum(-1), self.sigma2_2d)).sum() / self.T

    def set_camera(self, focal: float, center: np.ndarray) -> None:
        """The focal (px) and principal point (2,) px the 2D terms project with."""
        self.focal = float(focal)
        centre = torch.as_tensor(center, device=self.dev, dtype=self.dt)
        self.target_n = (self.target_2d - centre) / self.focal

    def _accel(self, x: Tensor) -> Tensor:
        """(rows, ...) per-frame values -> second differences in time, per person (no term
        across two people's frames)."""
        x = x.reshape(self.P, self.T, *x.shape[1:])
        return x[:, 2:] - 2 * x[:, 1:-1] + x[:, :-2]

    def _contact_loss(self, body: Tensor) -> Tensor:
        if self.planted is None or self.ground is None:
            return body.new_zeros(())
        feet = torch.stack([body[:, idx] for idx in self.foot_idx], 1)          # (T, 2, 3, 3)
        normal, offset = self.ground
        return W_CONTACT * contact_mod.contact_loss(feet, self.planted, normal, offset) / self.T

    def scatter(self) -> None:
        """Write the parameters back to the people (a group's job; one person: nothing)."""

    # -- helpers ---------------------------------------------------------------------------
    def markers_np(self, with_transl: bool) -> np.ndarray:
        with torch.no_grad():
            return self.forward(with_transl)["body"].cpu().numpy().astype(np.float64)

    def set_translation(self, focal: float, center: np.ndarray) -> None:
        """Solve the per-frame translation linearly for the current pose and focal."""
        pts = self.markers_np(with_transl=False)
        t = focal_mod.solve_translation(pts, self.body_2d_np, self.w_body_np, focal, center)
        ok = np.isfinite(t).all(1) & (t[:, 2] > 0.2)
        if ok.any():
            t = fill_gaps(np.where(ok[:, None], t, 0.0), ok)
        else:
            t = np.tile([0.0, 0.0, 3.0], (self.T, 1))
        with torch.no_grad():
            self.transl.copy_(torch.as_tensor(t, dtype=self.dt))

    def set_leg_depth_weight(self, weight: float) -> None:
        """Weight of the depth (z) of the knee, ankle, heel and toe 3D landmarks (1: as the rest)."""
        with torch.no_grad():
            self.axis_w[:, _LEG_ROWS, 2] = weight

    def update_contacts(self, fps: float) -> contact_mod.GroundPlane | None:
        with torch.no_grad():
            out = self.forward(with_transl=True)
            feet = torch.stack([out["body"][:, idx] for idx in self.foot_idx], 1).cpu().numpy()
            up = (out["rot"][:, 0, :, 1]).cpu().numpy()                      # model +y in camera
        seen = self.seen
        if seen.sum() < 3:
            return None
        low = feet[seen].reshape(-1, 3, 3)
        sole = low[np.arange(len(low)), np.argmax(low[..., 1], axis=1)]     # lowest = largest y
        ground = contact_mod.fit_ground_plane(sole.reshape(seen.sum(), 2, 3), up[seen].mean(0))
        sole_all = feet[np.arange(self.T)[:, None], np.arange(2)[None], np.argmax(feet[..., 1], -1)]
        planted = contact_mod.detect_planted(sole_all, ground, fps) & seen[:, None]
        self.planted = torch.as_tensor(planted.astype(np.float32), device=self.dev, dtype=self.dt)
        self.ground = (torch.as_tensor(ground.normal, device=self.dev, dtype=self.dt), float(ground.offset))
        return ground


class _Group(_Person):
    """Several people (same frame count T) fitted as one batch: their frames stacked person after
    person (rows = P * T), the same losses. Adam is element-wise and every loss term is a sum
    over people, so each person follows the trajectory of a fit on their own (up to float
    summation order) while the per-iteration overhead is paid once for everyone."""

    _STACKED = ("w_body", "body_2d", "body_3d", "jaw", "target_2d", "target_3d", "w_2d", "w_lift_3d",
                "w_place_3d", "axis_w", "body_q", "jaw_eyes", "target_n")   # (T, ...) per person, on dim 0
    _STACKED_HANDS = ("w_hand", "hand_2d", "hand_3d")          # (2, T, ...) per person, on dim 1
    _SHARED = ("model", "options", "dev", "dt", "T", "parents", "smooth", "limits_body", "limits_hand",
               "shape_map", "hand_mean", "radii", "torso_idx", "torso_radii", "foot_idx", "focal",
               "sigma2_2d", "centre_a", "centre_b")

    def __init__(self, people: list[_Person]) -> None:  # noqa: D107 (no _Person.__init__: built from people)
        if len({p.T for p in people}) != 1:
            raise ValueError("people fitted together must have the same number of frames")
        self.people = people
        self.P = len(people)
        for name in self._SHARED:
            setattr(self, name, getattr(people[0], name))
        for name in self._STACKED:
            setattr(self, name, torch.cat([getattr(p, name) for p in people], 0))
        for name in self._STACKED_HANDS:
            setattr(self, name, torch.cat([getattr(p, name) for p in people], 1))
        self.planted, self.ground = None, None

        def stack(name: str, dim: int = 0) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.cat([getattr(p, name).detach() for p in people], dim))
        self.go6, self.body, self.transl = stack("go6"), stack("body"), stack("transl")
        self.hands = stack("hands", 1)
        self.betas = torch.nn.Parameter(torch.stack([p.betas.detach() for p in people]))   # (P, 10)

    def _contact_loss(self, body: Tensor) -> Tensor:
        loss = body.new_zeros(())
        for i, person in enumerate(self.people):
            loss = loss + person._contact_loss(body[i * self.T:(i + 1) * self.T])
        return loss

    def scatter(self) -> None:
        with torch.no_grad():
            for i, person in enumerate(self.people):
                rows = slice(i * self.T, (i + 1) * self.T)
                person.go6.copy_(self.go6[rows])
                person.body.copy_(self.body[rows])
                person.transl.copy_(self.transl[rows])
                person.hands.copy_(self.hands[:, rows])
                person.betas.copy_(self.betas[i])


def _batch(people: list[_Person]) -> _Person:
    """One problem for everyone: the person itself, or a :class:`_Group` of several."""
    return people[0] if len(people) == 1 else _Group(people)


def _body_pose_weights(seen: np.ndarray, ankle_seen: np.ndarray, toe_seen: np.ndarray) -> np.ndarray:
    """(T,) frames seen, (T, 2) left/right ankle and toe landmarks seen -> (T, 21, 3) weight of each
    body_pose component's square in the loss (before / T):

    * the pose prior (``W_PRIOR`` x :data:`priors.POSE_PRIOR_WEIGHTS`) only where the person is seen:
      in a filled gap it would pull the body towards the rest pose (arms out) instead of letting
      the temporal terms bridge it;
    * sideways hips (abduction, twist; ``W_HIP_SIDEWAYS``): a person seen end-on (walking to or from
      the camera) shows the legs' forward swing mostly in depth, which the landmarks barely
      measure; without this the fit explains the feet's image positions by spreading the legs;
    * the knees bend as hinges (twist, sideways bend; ``W_KNEE_HINGE``) where the ankle is seen,
      the ankles barely twist (``W_ANKLE_TWIST``) where the toe is seen: else the fit moves a foot
      sideways with them instead (walkers: the far foot's depth, PA 4 mm)."""
    q = W_PRIOR * priors.POSE_PRIOR_WEIGHTS[None, :, None] * seen[:, None, None].astype(np.float64)
    q = np.broadcast_to(q, (len(seen), 21, 3)).copy()
    q[:, :2, 1:] += W_HIP_SIDEWAYS
    q[:, 3:5, 1:] += W_KNEE_HINGE * ankle_seen[:, :, None]
    q[:, 6:8, 1] += W_ANKLE_TWIST * toe_seen
    return q


def _short_gaps(seen: np.ndarray, max_len: int) -> np.ndarray:
    """(T,) -> (T,) True on unseen spans of at most ``max_len`` frames between seen frames."""
    out = np.zeros_like(seen)
    for a, b in hands_mod.dropout_spans(seen, max_len):
        out[a:b] = True
    return out


def _optimise(person: _Person, loss_fn: Callable[[], Tensor], params: list[Tensor], lrs: list[float],
              steps: int, hook: Callable[[int], None] | None = None) -> float:
    opt = Adam(params, lrs)
    loss_value = math.inf
    for step in range(steps):
        if hook is not None:
            hook(step)
        opt.zero_grad()
        loss = loss_fn()
        if not torch.isfinite(loss):
            break
        loss.backward()
        for p in params:
            if p.grad is not None:
                torch.nan_to_num_(p.grad, nan=0.0, posinf=0.0, neginf=0.0)
        opt.step()
        loss_value = float(loss.detach())
    return loss_value


def fit_clip(observations: list[PersonObservations], image_size: tuple[int, int], fps: float,
             model: BodyModel, options: FitOptions | None = None,
             progress: ProgressFn | None = None, horizon: np.ndarray | None = None) -> ClipFit:
    """Fit everyone in a clip.

    Args:
        observations: one per tracked person (all with the same T).
        image_size: (W, H) px.
        fps: frames per second of the rows.
        model: the body model (its device is used for rest joints).
        options: settings (defaults: estimate focal, hands and face on, smoothing 1).
        progress: called with (people done, message).
        horizon: (3,) the scene's horizon line in px (:mod:`core.horizon`), or None / zeros:
            the focal estimate then stands upright people on it.

    Returns: the fitted people and camera.
    """
    options = options or FitOptions()
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    if options.device == "cpu":
        torch.set_num_threads(1)  # tiny tensors: one thread is faster and never spins on a busy machine
    try:
        return _fit_clip(observations, image_size, fps, model, options, progress, horizon)
    finally:
        torch.set_num_threads(threads)


def _fit_clip(observations: list[PersonObservations], image_size: tuple[int, int], fps: float,
              model: BodyModel, options: FitOptions, progress: ProgressFn | None,
              horizon: np.ndarray | None) -> ClipFit:
    seconds: dict[str, float] = {}
    center = np.array(image_size, np.float64) / 2.0
    start = time.perf_counter()
    people: list[_Person] = []
    flips: list[int] = []
    guess = options.focal.focal_px if options.focal else focal_mod.focal_from_fov(image_size[0],
                                                                                  focal_mod.PRIOR_FOV_DEG)
    for i, obs in enumerate(observations):
        obs, body_flips = repair_body_flips(obs)
        obs = downweight_frames(obs, off_heading_frames(obs, OFF_HEADING_WINDOW, OFF_HEADING_DEG),
                                OFF_HEADING_WEIGHT)
        edges = gap_edge_frames(obs.valid, int(round(GAP_EDGE_S * fps)))
        obs = downweight_frames(obs, edges, GAP_EDGE_WEIGHT)
        if VIEW_RAY_ALIGNMENT:
            obs = align_to_view_rays(obs, guess, center)
        if options.hands:
            obs, n = hands_mod.repair_hand_flips(obs)
        else:
            n = 0
        flips.append(n + body_flips)
        people.append(_Person(obs, model, options, fps))

    def report(done: int, verb: str, steps: int) -> Callable[[int], None]:
        """Progress while everyone is optimised together: the people-done count advances
        with the steps (``done`` people finished before this stage)."""
        def hook(step: int) -> None:
            if progress:
                who = "1 person" if len(people) == 1 else f"{len(people)} people"
                progress(done + len(people) * step // max(steps, 1) - 1,
                         f"{verb} {who}, step {step + 1}/{steps}")
        return hook

    if people:  # everyone in one batch (see _Group)
        batch = _batch(people)
        params, lrs = [batch.go6, batch.body, batch.betas], [0.03, 0.05, 0.05]
        if options.hands:
            params, lrs = params + [batch.hands], lrs + [0.05]
        _optimise(batch, batch.lift_loss, params, lrs, options.lift_iterations,
                  report(0, "lifting", options.lift_iterations))
        batch.scatter()
    if progress:
        for i, person in enumerate(people):
            progress(i, f"lifted person {person.obs.track_id}")
    seconds["lift"] = time.perf_counter() - start

    t0 = time.perf_counter()
    focal = options.focal or _estimate_focal(people, image_size, horizon, options.lens, options.scene)
    seconds["focal"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ground = None
    for person in people:
        person.set_camera(focal.focal_px, center)
        person.set_translation(focal.focal_px, center)
        size = _noise_factor(person, person.transl.detach().cpu().numpy()) ** (1.0 / NOISE_SIGMA_POW)
        person.set_leg_depth_weight(size ** -LEG_DEPTH_FALLOFF)
        person.w_place_3d = person.w_place_3d * size ** -PLACE_3D_FALLOFF
    if people:
        batch = _batch(people)
        half = options.place_iterations // 2
        placing = report(len(people), "placing", options.place_iterations)

        def hook(step: int) -> None:
            nonlocal ground
            placing(step)
            if step == half:
                batch.scatter()
                for person in people:
                    ground = person.update_contacts(fps) or ground

        params, lrs = [batch.go6, batch.body, batch.betas, batch.transl], [0.01, 0.02, 0.01, 0.01]
        if options.hands:
            params, lrs = params + [batch.hands], lrs + [0.03]
        _optimise(batch, batch.place_loss, params, lrs, options.place_iterations, hook)
        batch.scatter()
    if progress:
        for i, person in enumerate(people):
            progress(len(people) + i, f"placed person {person.obs.track_id}")
    seconds["place"] = time.perf_counter() - t0
    fits = [_export(person, flips[i], fps) for i, person in enumerate(people)]
    return ClipFit(people=fits, focal=focal, center=center, image_size=tuple(image_size), ground=ground,
                   seconds=seconds)


def _estimate_focal(people: list[_Person], image_size: tuple[int, int], horizon: np.ndarray | None = None,
                    lens: focal_mod.LensPrior | None = None,
                    scene: focal_mod.LensPrior | None = None) -> focal_mod.FocalEstimate:
    bodies = []
    for person in people:
        pts = person.markers_np(with_transl=False)
        bodies.append((pts[person.seen], person.body_2d_np[person.seen], person.w_body_np[person.seen]))
    upright = None
    if horizon is not None and np.asarray(horizon).any():
        upright = focal_mod.Upright(np.asarray(horizon, np.float64), tuple(SHOULDER_ROWS), tuple(HIP_ROWS))
    return focal_mod.estimate_focal(bodies, image_size, upright=upright, lens=lens, scene=scene)


def _smooth_translation(transl: np.ndarray, sigma: float) -> np.ndarray:
    """(T, 3) camera-frame root positions (m) -> smoothed: the view ray (x/z, y/z: where the root
    is in the image) by ``sigma`` frames, the depth by ``DEPTH_SIGMA_FACTOR * sigma`` (depth is
    what 2D landmarks pin down least, so its jitter reads as sliding feet)."""
    z = np.clip(transl[:, 2:3].astype(np.float64), 0.05, None)
    ray = smooth_positions(transl[:, :2] / z, sigma)
    depth = smooth_positions(z, DEPTH_SIGMA_FACTOR * sigma)
    return np.concatenate((ray * depth, depth), 1)


def _noise_factor(person: _Person, transl: np.ndarray) -> float:
    """How much more than the default a person's motion is smoothed: their median metres per
    pixel (depth / focal) over ``NOISE_REF_MM_PER_PX``, to the power ``NOISE_SIGMA_POW``, between
    1 and ``NOISE_SIGMA_MAX``. A small, far figure's landmarks carry the same pixel noise as a
    near one's, which is proportionally more metres of jitter in its pose."""
    if not person.seen.any() or person.focal <= 0:
        return 1.0
    mm_per_px = float(np.median(transl[person.seen, 2])) / person.focal * 1000.0
    return float(np.clip(mm_per_px / NOISE_REF_MM_PER_PX, 1.0, NOISE_SIGMA_MAX)) ** NOISE_SIGMA_POW


def _export(person: _Person, flips: int, fps: float) -> PersonFit:
    """Parameters to numpy, with the user's smoothing applied rotation-aware (zero phase)."""
    with torch.no_grad():
        go = kin.matrix_to_axis_angle(kin.rotation_6d_to_matrix(person.go6)).cpu().numpy()
        body = person.body.cpu().numpy()
        hands = person.hands.cpu().numpy()
        transl = person.transl.cpu().numpy()
        betas = person.betas.cpu().numpy()
    sigma = SMOOTH_SIGMA_FRAMES * person.smooth * fps / 30.0 * _noise_factor(person, transl)
    if PERIODIC_GAPS and person.valid.any():
        period = motion_period(body[:, _LEG_JOINTS], person.seen, int(0.4 * fps), int(2.0 * fps),
                               PERIOD_MIN_CORR)
        body = fill_gaps_periodic(body, person.seen | ~person.valid, period)
    rot = smooth_rotations(np.concatenate((go[:, None], body), 1), sigma)
    go, body = rot[:, 0], rot[:, 1:]
    lh = smooth_positions(hands[0], sigma)
    rh = smooth_positions(hands[1], sigma)
    transl = _smooth_translation(transl, sigma)
    model = person.model
    with torch.no_grad():
        def t(a: np.ndarray) -> Tensor:
            return torch.as_tensor(np.asarray(a, np.float32), device=model.device)
        T = person.T
        out = model(t(np.tile(betas, (T, 1))), t(go), t(body), t(lh), t(rh),
                    person.jaw.to(model.device), t(transl))
        joints = out.joints.cpu().numpy()
    conf = (person.obs.body_conf[:, BODY_MAP.landmarks] * BODY_MAP.weights).sum(1) / BODY_MAP.weights.sum()
    conf = np.where(person.valid, np.clip(conf, 0.0, 1.0), 0.0).astype(np.float32)
    arrays = [go, body, lh, rh, transl, joints]
    if not all(np.isfinite(a).all() for a in arrays):  # last line of defence: never NaN
        go, body, lh, rh, transl, joints = (np.nan_to_num(a) for a in arrays)
    return PersonFit(
        track_id=person.obs.track_id, valid=person.valid.copy(), confidence=conf,
        betas=betas.astype(np.float32), global_orient=go.astype(np.float32),
        body_pose=body.astype(np.float32), left_hand_pose=lh.astype(np.float32),
        right_hand_pose=rh.astype(np.float32), jaw_pose=person.jaw.cpu().numpy().astype(np.float32),
        expression=np.zeros((person.T, 10), np.float32), transl=transl.astype(np.float32),
        joints=joints.astype(np.float32), flips_repaired=flips)


__all__ = ["ClipFit", "FitOptions", "PersonFit", "fit_clip"]
