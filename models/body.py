"""Body models behind one small batched torch interface.

Two backends give the same 55-joint SMPL-X skeleton (names and parents of
:mod:`models.skeleton`) and the same parameters:

* ``mannequin-x`` (default, no registration): the SMPL-X-compatible wooden rig of the
  ``mannequin-x`` package. Its rest joints are exactly linear in the 10 betas (its
  bundled SMPL-X calibration), its mesh is a skinned wooden figure (24k vertices).
  It has no jaw/eyes: those are rigid children of the head at :data:`FACE_JOINT_OFFSETS`;
  its extra rigid ``L_Hand``/``R_Hand`` joints are folded into the wrists (exact: they
  carry no rotation). Mesh vertices follow betas through mannequin's own (numpy,
  non-differentiable) reshaping; joints are differentiable in betas.
* ``smplx``: the official SMPL-X model (user-supplied ``SMPLX_NEUTRAL.npz``) loaded
  with the ``smplx`` package; shape, expression and pose-corrective blend shapes.

Parameters follow smplx (``flat_hand_mean=False``): hand poses are offsets from
``hand_mean``; ``global_orient`` rotates about the pelvis and ``pelvis = J_0 + transl``.
All tensors float32, batched over B frames, on the model's device.

MANO hands (hands-only motion files) use :class:`HandModel` from :func:`load_hand_model`.
"""

from __future__ import annotations

import contextlib
import sys
import zipfile
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import Tensor

from core.errors import ModelFileError
from models import kinematics as kin
from models.skeleton import (
    MANNEQUIN_TO_SMPLX,
    MANO_JOINT_NAMES,
    MANO_PARENTS,
    NUM_JOINTS,
    SMPLX_JOINT_NAMES,
    SMPLX_PARENTS,
)

NUM_BETAS = 10
NUM_EXPRESSION = 10

FACE_JOINT_OFFSETS: dict[str, tuple[float, float, float]] = {
    "jaw": (0.0, -0.020, 0.035),
    "left_eye": (0.031, 0.040, 0.070),
    "right_eye": (-0.031, 0.040, 0.070),
}
"""Rest offsets (metres, model frame: y up, +z forward, +x the body's left) of the face
joints from the ``head`` joint, for backends without them (mannequin-x). Approximate
adult values (eyeball centres about 3 cm either side, 4 cm above and 7 cm in front of the
skull base joint; the jaw hinge 2 cm below and 3.5 cm in front); constant in betas."""


@dataclass
class BodyOutput:
    """Result of :meth:`BodyModel.forward`.

    joints: (B, J, 3) metres, in the frame of ``global_orient``/``transl`` (camera frame here).
    transforms: (B, J, 4, 4) world transform of each joint (``joints == transforms[..., :3, 3]``).
    vertices: (B, V, 3) metres, same frame, or None when not asked for.
    """

    joints: Tensor
    transforms: Tensor
    vertices: Tensor | None = None


@dataclass
class FaceLandmarks:
    """The 51 static face landmarks of a posed body as a differentiable function of expression
    and jaw (from :meth:`BodyModel.face_landmarks`; only the mesh vertices under the landmarks,
    with the body's pose, pose correctives and skinning except the jaw's precomputed).

    Call with expression (B,10) and jaw_pose (B,3) axis-angle -> (B,51,3) metres, in the frame
    of ``global_orient``/``transl``. Matches :meth:`BodyModel.forward`'s vertices exactly.
    """

    shaped: Tensor          # (B, K, 3) rest vertices with shape and the non-jaw pose correctives
    expr_dirs: Tensor       # (K, 3, 10)
    blend_other: Tensor     # (B, K, 3, 4) skinning blend of every joint but the jaw
    jaw_weight: Tensor      # (K,)
    head_transform: Tensor  # (B, 4, 4) world transform of the jaw's parent
    jaw_offset: Tensor      # (3,) rest jaw - rest head
    jaw_rest: Tensor        # (3,)
    jaw_posedirs: Tensor    # (9, K*3) pose correctives of the jaw rotation
    index: Tensor           # (51, 3) vertex rows (into K) of each landmark's triangle
    bary: Tensor            # (51, 3) barycentric weights

    def double(self) -> FaceLandmarks:
        """A float64 copy (for least-squares solvers)."""
        return FaceLandmarks(**{f.name: (v.double() if v.is_floating_point() else v)
                                for f in fields(self) for v in (getattr(self, f.name),)})

    def __call__(self, expression: Tensor, jaw_pose: Tensor) -> Tensor:
        """expression (..., B, 10), jaw_pose (..., B, 3) -> (..., B, 51, 3) (leading dims broadcast)."""
        rot = kin.axis_angle_to_matrix(jaw_pose)                                        # (..., B, 3, 3)
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        corrective = ((rot - eye).flatten(-2) @ self.jaw_posedirs).unflatten(-1, (-1, 3))
        verts = self.shaped + torch.einsum("vkd,...d->...vk", self.expr_dirs, expression) + corrective
        head_rot, head_pos = self.head_transform[:, :3, :3], self.head_transform[:, :3, 3]
        jaw_rot = head_rot @ rot
        jaw_pos = head_pos + (head_rot @ self.jaw_offset)
        jaw_skin = torch.cat((jaw_rot, (jaw_pos - (jaw_rot @ self.jaw_rest))[..., None]), -1)  # (.., B, 3, 4)
        blend = self.blend_other + self.jaw_weight[:, None, None] * jaw_skin[..., None, :, :]
        posed = (blend[..., :3] * verts[..., None, :]).sum(-1) + blend[..., 3]              # (..., B, K, 3)
        return (posed[..., self.index, :] * self.bary[..., None]).sum(-2)


def _check(name: str, value: Tensor, shape: tuple[int, ...]) -> None:
    if tuple(value.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")


class BodyModel(torch.nn.Module):
    """SMPL-X-skeleton body model (55 joints). Subclasses supply rest joints, rest vertices,
    skin weights and (optionally) pose correctives.

    Attributes:
        name: ``mannequin-x`` or ``smplx``.
        joint_names: the 55 SMPL-X joint names.
        parents: (55,) long buffer.
        hand_mean: (30, 3) buffer, mean hand pose (left 15, right 15), axis-angle.
        skin_weights: (V, 55) dense buffer.
        faces: (F, 3) int32 numpy triangles.
    """

    name: str = ""
    joint_names: tuple[str, ...] = SMPLX_JOINT_NAMES
    num_expression: int = 0
    """Expression coefficients the mesh uses (10 for smplx; 0: no expression basis, no face landmarks)."""
    parents: Tensor
    hand_mean: Tensor
    skin_weights: Tensor
    faces: np.ndarray

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("parents", torch.as_tensor(SMPLX_PARENTS, dtype=torch.long))
        self._parents_list = list(SMPLX_PARENTS)

    # -- to implement -----------------------------------------------------------------
    def rest_joints(self, betas: Tensor) -> Tensor:
        """(B, 10) betas -> (B, 55, 3) rest joints, metres, model frame; differentiable in betas."""
        raise NotImplementedError

    def rest_vertices(self, betas: np.ndarray) -> np.ndarray:
        """(10,) betas -> (V, 3) float32 rest mesh, metres, model frame."""
        raise NotImplementedError

    def _shaped_vertices(self, betas: Tensor, expression: Tensor | None) -> Tensor:
        """(B, 10) betas -> (B, V, 3) rest vertices before pose correctives."""
        raise NotImplementedError

    def _pose_offsets(self, rotations: Tensor) -> Tensor | None:
        """(B, 55, 3, 3) local rotations -> (B, V, 3) pose-corrective offsets or None."""
        return None

    def face_landmarks(self, betas: Tensor, pose: Tensor, transl: Tensor) -> FaceLandmarks:
        """The model's 51 static face landmarks (iBUG-68 points 17..67: brows, nose, eyes, mouth)
        as a function of expression and jaw, the rest of the body held in ``pose``.

        Args: betas (1,10); pose (B,55,3) local axis-angle of every joint (:meth:`full_pose`;
        its jaw row is ignored); transl (B,3) metres. Only models with an expression basis
        (``num_expression > 0``) have landmarks.
        """
        raise NotImplementedError(f"the {self.name} body model has no face landmarks")

    # -- common -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.hand_mean.device

    @property
    def num_vertices(self) -> int:
        return int(self.skin_weights.shape[0])

    @property
    def parent_list(self) -> list[int]:
        """The 55 parent indices as a Python list (what :func:`models.kinematics.forward_kinematics` takes)."""
        return list(self._parents_list)

    def full_pose(self, global_orient: Tensor, body_pose: Tensor, left_hand_pose: Tensor,
                  right_hand_pose: Tensor, jaw_pose: Tensor) -> Tensor:
        """(B, 55, 3) local axis-angle of every joint, mean hand added, eyes at rest."""
        b = global_orient.shape[0]
        eyes = torch.zeros(b, 2, 3, dtype=global_orient.dtype, device=global_orient.device)
        return torch.cat((global_orient[:, None], body_pose, jaw_pose[:, None], eyes,
                          left_hand_pose + self.hand_mean[:15], right_hand_pose + self.hand_mean[15:]), dim=1)

    def forward(self, betas: Tensor, global_orient: Tensor, body_pose: Tensor, left_hand_pose: Tensor,
                right_hand_pose: Tensor, jaw_pose: Tensor, transl: Tensor,
                return_vertices: bool = False, expression: Tensor | None = None) -> BodyOutput:
        """Pose the body.

        Args (B frames): betas (B,10); global_orient (B,3); body_pose (B,21,3);
        left_hand_pose, right_hand_pose (B,15,3) offsets from ``hand_mean``; jaw_pose (B,3);
        transl (B,3) metres; expression (B,10) or None (only the smplx mesh uses it).
        Axis-angle in radians.
        """
        b = global_orient.shape[0]
        for name, value, shape in (("betas", betas, (b, NUM_BETAS)), ("global_orient", global_orient, (b, 3)),
                                   ("body_pose", body_pose, (b, 21, 3)),
                                   ("left_hand_pose", left_hand_pose, (b, 15, 3)),
                                   ("right_hand_pose", right_hand_pose, (b, 15, 3)),
                                   ("jaw_pose", jaw_pose, (b, 3)), ("transl", transl, (b, 3))):
            _check(name, value, shape)
        rotations = kin.axis_angle_to_matrix(self.full_pose(global_orient, body_pose, left_hand_pose,
                                                            right_hand_pose, jaw_pose))
        rest = self.rest_joints(betas)
        joints, transforms = kin.forward_kinematics(rotations, rest, self._parents_list, transl)
        vertices = None
        if return_vertices:
            shaped = self._shaped_vertices(betas, expression)
            offsets = self._pose_offsets(rotations)
            if offsets is not None:
                shaped = shaped + offsets
            vertices = kin.linear_blend_skinning(shaped, transforms, rest, self.skin_weights)
        return BodyOutput(joints=joints, transforms=transforms, vertices=vertices)

    def rest_joints_np(self, betas: np.ndarray) -> np.ndarray:
        """(10,) -> (55, 3) float32 rest joints (numpy convenience)."""
        with torch.no_grad():
            b = torch.as_tensor(np.array(betas, np.float32).reshape(1, NUM_BETAS), device=self.device)
            return self.rest_joints(b)[0].cpu().numpy().astype(np.float32)

    def avatar_arrays(self) -> dict[str, np.ndarray]:
        """The ``avatar/*`` keys of docs/formats.md for this model."""
        idx, w = kin.top_k_skin(self.skin_weights.detach().cpu().numpy().astype(np.float64), 4)
        return {
            "avatar/model": np.asarray(self.name),
            "avatar/joint_names": np.asarray(self.joint_names),
            "avatar/parents": np.asarray(self._parents_list, dtype=np.int64),
            "avatar/faces": np.asarray(self.faces, dtype=np.int32),
            "avatar/skin_indices": idx,
            "avatar/skin_weights": w,
            "avatar/hand_mean": self.hand_mean.detach().cpu().numpy().astype(np.float32),
        }


# --------------------------------------------------------------------------------------
# mannequin-x backend
# --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _MannequinAssets:
    joint_rest: np.ndarray      # (55, 3) float64
    joint_dirs: np.ndarray      # (55, 3, 10) float64
    hand_mean: np.ndarray       # (30, 3)
    faces: np.ndarray           # (F, 3) int32
    skin_dense: np.ndarray      # (V, 55) float64
    smplx_from_mannequin: np.ndarray  # (54,) SMPL-X index of each mannequin joint


@lru_cache(maxsize=1)
def _mannequin() -> Any:
    """The shared numpy mannequin (wooden, skinned). Raises ModelFileError if not installed."""
    try:
        from mannequin import Mannequin
    except ImportError as exc:
        raise ModelFileError("the mannequin-x package is not installed in the worker environment "
                             "(pip install mannequin-x==0.3.0)") from exc
    return Mannequin("wooden")


@lru_cache(maxsize=1)
def _mannequin_assets() -> _MannequinAssets:
    """Calibration and skin of mannequin-x mapped to the 55 SMPL-X joints.

    The only place that reads mannequin-x internals (version 0.3.0): its SMPL-X shape
    calibration (``joint_rest + joint_dirs @ betas``), hand mean and its 4-influence skin.
    """
    m = _mannequin()
    cal = m._calibration
    names = m.joint_names
    face_parent = SMPLX_JOINT_NAMES.index("head")
    to_smplx = np.empty(len(names), np.int64)
    for i, name in enumerate(names):
        if name in ("L_Hand", "R_Hand"):  # rigid hand joints: same transform as the wrist
            to_smplx[i] = SMPLX_JOINT_NAMES.index("left_wrist" if name == "L_Hand" else "right_wrist")
        else:
            to_smplx[i] = SMPLX_JOINT_NAMES.index(MANNEQUIN_TO_SMPLX[name])
    joint_rest = np.zeros((NUM_JOINTS, 3))
    joint_dirs = np.zeros((NUM_JOINTS, 3, NUM_BETAS))
    for i, name in enumerate(names):
        if name not in ("L_Hand", "R_Hand"):
            joint_rest[to_smplx[i]] = cal.joint_rest[i]
            joint_dirs[to_smplx[i]] = cal.joint_dirs[i][:, :NUM_BETAS]
    for name, offset in FACE_JOINT_OFFSETS.items():
        j = SMPLX_JOINT_NAMES.index(name)
        joint_rest[j] = joint_rest[face_parent] + np.asarray(offset)
        joint_dirs[j] = joint_dirs[face_parent]
    skin_idx = to_smplx[m._skin_joint_indices]
    skin_dense = kin.dense_skin_weights(skin_idx, m._skin_weights.astype(np.float64), NUM_JOINTS)
    return _MannequinAssets(joint_rest=joint_rest, joint_dirs=joint_dirs,
                            hand_mean=np.asarray(cal.hand_mean, np.float64).reshape(30, 3),
                            faces=np.asarray(m.faces, np.int32), skin_dense=skin_dense,
                            smplx_from_mannequin=to_smplx)


def mannequin_rest_joints(betas: np.ndarray) -> np.ndarray:
    """(10,) -> (55, 3) float64 rest joints of the mannequin-x backend (numpy)."""
    a = _mannequin_assets()
    return a.joint_rest + a.joint_dirs @ np.asarray(betas, np.float64)


@lru_cache(maxsize=64)
def _mannequin_rest_vertices(betas_key: bytes) -> np.ndarray:
    betas = np.frombuffer(betas_key, dtype=np.float32)
    m = _mannequin()
    m.reshape(betas)
    return np.asarray(m._identity["skin_vertices"], np.float32)


class MannequinBody(BodyModel):
    """The mannequin-x backend (default). See the module docstring."""

    name = "mannequin-x"

    def __init__(self) -> None:
        super().__init__()
        a = _mannequin_assets()
        self.register_buffer("joint_rest", torch.as_tensor(a.joint_rest, dtype=torch.float32))
        self.register_buffer("joint_dirs", torch.as_tensor(a.joint_dirs, dtype=torch.float32))
        self.register_buffer("hand_mean", torch.as_tensor(a.hand_mean, dtype=torch.float32))
        self.register_buffer("skin_weights", torch.as_tensor(a.skin_dense, dtype=torch.float32))
        self.faces = a.faces

    def rest_joints(self, betas: Tensor) -> Tensor:
        return self.joint_rest + torch.einsum("jkd,bd->bjk", self.joint_dirs, betas)

    def rest_vertices(self, betas: np.ndarray) -> np.ndarray:
        key = np.ascontiguousarray(np.asarray(betas, np.float32).reshape(NUM_BETAS)).tobytes()
        return _mannequin_rest_vertices(key).copy()

    def _shaped_vertices(self, betas: Tensor, expression: Tensor | None) -> Tensor:
        rows = betas.detach().cpu().numpy().astype(np.float32)
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        verts = np.stack([self.rest_vertices(u) for u in unique])
        return torch.as_tensor(verts, device=betas.device)[torch.as_tensor(inverse.reshape(-1))]


# --------------------------------------------------------------------------------------
# official SMPL-X backend
# --------------------------------------------------------------------------------------

def _build_smplx_module(path: Any, cls_name: str, **kwargs: Any) -> Any:
    """Construct an ``smplx`` model from a file; stdout (smplx prints warnings) goes to stderr
    so the worker's JSON-lines stream stays clean."""
    import smplx

    try:
        with contextlib.redirect_stdout(sys.stderr):
            return getattr(smplx, cls_name)(str(path), ext=path.suffix[1:], **kwargs)
    except (KeyError, AttributeError, ValueError, IndexError, TypeError, RuntimeError, OSError,
            AssertionError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: cannot load as a {cls_name} model "
                             f"({type(exc).__name__}: {exc})") from exc


class SmplxBody(BodyModel):
    """Official SMPL-X through the ``smplx`` package (vertices with shape, expression and
    pose-corrective blend shapes; joints from the file's joint regressor).

    Joints (and the skinning centres) are regressed from the expression-free shape, so
    ``rest_joints(betas)`` stays one per person as the motion file says; smplx itself
    regresses them after adding expression offsets (a sub-millimetre difference for the
    face joints of the real model). With zero expression both agree exactly.
    """

    name = "smplx"
    num_expression = NUM_EXPRESSION

    def __init__(self, model_dir: str, gender: str = "neutral") -> None:
        super().__init__()
        from models import smplx_files

        path = smplx_files.find_smplx_file(model_dir, gender)
        arrays = smplx_files.read_model_arrays(path, smplx_files.SMPLX_REQUIRED_KEYS, "SMPL-X")
        smplx_files.check_kintree(path, arrays["kintree_table"], SMPLX_PARENTS, "SMPL-X")
        if np.asarray(arrays["J_regressor"]).shape[0] != NUM_JOINTS:
            raise ModelFileError(f"{path}: J_regressor must have {NUM_JOINTS} rows")
        model = _build_smplx_module(path, "SMPLX", gender=gender, num_betas=NUM_BETAS,
                                    num_expression_coeffs=NUM_EXPRESSION, use_pca=False,
                                    flat_hand_mean=False, batch_size=1)
        self.source = str(path)
        f32 = torch.float32
        self.register_buffer("v_template", model.v_template.to(f32).clone())
        self.register_buffer("shapedirs", model.shapedirs.to(f32).clone())        # (V, 3, 10)
        self.register_buffer("expr_dirs", model.expr_dirs.to(f32).clone())        # (V, 3, 10)
        self.register_buffer("posedirs", model.posedirs.to(f32).clone())          # (54*9, V*3)
        self.register_buffer("j_regressor", model.J_regressor.to(f32).clone())    # (55, V)
        self.register_buffer("skin_weights", model.lbs_weights.to(f32).clone())   # (V, 55)
        hand_mean = torch.cat((model.left_hand_mean, model.right_hand_mean)).reshape(30, 3)
        self.register_buffer("hand_mean", hand_mean.to(f32).clone())
        self.faces = np.asarray(model.faces, dtype=np.int32)
        self.gender = gender
        # the mesh under the 51 static face landmarks (lmk_faces_idx / lmk_bary_coords of the file)
        corners = model.faces_tensor[model.lmk_faces_idx.long()].long()            # (51, 3) vertex ids
        ids, index = torch.unique(corners.reshape(-1), return_inverse=True)
        num_v = self.v_template.shape[0]
        self.register_buffer("lmk_vertex_ids", ids)                                 # (K,)
        self.register_buffer("lmk_index", index.reshape(-1, 3))                     # (51, 3) into ids
        self.register_buffer("lmk_bary", model.lmk_bary_coords.to(f32).clone())     # (51, 3)
        self.register_buffer("lmk_posedirs", self.posedirs.reshape(-1, num_v, 3)[:, ids].reshape(
            self.posedirs.shape[0], -1).clone())                                    # (54*9, K*3)

    def avatar_arrays(self) -> dict[str, np.ndarray]:
        """``avatar/*`` keys plus ``avatar/gender``, ``avatar/source`` (the model file's name) and
        ``avatar/expression_dirs`` (V,3,10) float32, metres per unit coefficient."""
        from pathlib import Path

        arrays = super().avatar_arrays()
        arrays["avatar/gender"] = np.asarray(self.gender)
        arrays["avatar/source"] = np.asarray(Path(self.source).name)
        arrays["avatar/expression_dirs"] = self.expr_dirs.detach().cpu().numpy().astype(np.float32)
        return arrays

    def face_landmarks(self, betas: Tensor, pose: Tensor, transl: Tensor) -> FaceLandmarks:
        ids = self.lmk_vertex_ids
        jaw, head = SMPLX_JOINT_NAMES.index("jaw"), SMPLX_JOINT_NAMES.index("head")
        with torch.no_grad():
            b = pose.shape[0]
            rest = self.rest_joints(betas)[0]                                            # (55, 3)
            rotations = kin.axis_angle_to_matrix(pose)
            rotations[:, jaw] = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
            _, transforms = kin.forward_kinematics(rotations, rest, self._parents_list, transl)
            skin = kin.skinning_transforms(transforms, rest)                              # (B, 55, 3, 4)
            weights = self.skin_weights[ids]                                              # (K, 55)
            not_jaw = weights.clone()
            not_jaw[:, jaw] = 0.0
            eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
            feature = (rotations[:, 1:] - eye).reshape(b, -1)                             # jaw rows are 0
            shaped = (self.v_template[ids] + torch.einsum("vkd,bd->bvk", self.shapedirs[ids], betas)
                      + (feature @ self.lmk_posedirs).reshape(b, -1, 3))
            rows = slice(9 * (jaw - 1), 9 * jaw)
        return FaceLandmarks(
            shaped=shaped, expr_dirs=self.expr_dirs[ids],
            blend_other=torch.einsum("vj,bjkl->bvkl", not_jaw, skin), jaw_weight=weights[:, jaw],
            head_transform=transforms[:, head], jaw_offset=rest[jaw] - rest[head], jaw_rest=rest[jaw],
            jaw_posedirs=self.lmk_posedirs[rows], index=self.lmk_index, bary=self.lmk_bary)

    def rest_joints(self, betas: Tensor) -> Tensor:
        return torch.einsum("jv,bvk->bjk", self.j_regressor, self._shaped_vertices(betas, None))

    def rest_vertices(self, betas: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            b = torch.as_tensor(np.array(betas, np.float32).reshape(1, NUM_BETAS), device=self.device)
            return self._shaped_vertices(b, None)[0].cpu().numpy()

    def _shaped_vertices(self, betas: Tensor, expression: Tensor | None) -> Tensor:
        v = self.v_template + torch.einsum("vkd,bd->bvk", self.shapedirs, betas)
        if expression is not None:
            v = v + torch.einsum("vkd,bd->bvk", self.expr_dirs, expression)
        return v

    def _pose_offsets(self, rotations: Tensor) -> Tensor:
        eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        feature = (rotations[:, 1:] - eye).reshape(rotations.shape[0], -1)
        return (feature @ self.posedirs).reshape(rotations.shape[0], -1, 3)


# --------------------------------------------------------------------------------------
# MANO (hands only)
# --------------------------------------------------------------------------------------

class HandModel(torch.nn.Module):
    """Official MANO hand (``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``) for hands-only motion files.

    16 joints (wrist + 15 finger joints, MANO order, :data:`models.skeleton.MANO_JOINT_NAMES`);
    ``hand_pose`` is an offset from ``hand_mean`` (15, 3); ``wrist = J_0 + transl``.
    """

    name = "mano"
    joint_names: tuple[str, ...] = MANO_JOINT_NAMES

    def __init__(self, model_dir: str, side: str) -> None:
        super().__init__()
        from models import smplx_files

        path = smplx_files.find_mano_file(model_dir, side)
        arrays = smplx_files.read_model_arrays(path, smplx_files.MANO_REQUIRED_KEYS, "MANO")
        smplx_files.check_kintree(path, arrays["kintree_table"], MANO_PARENTS, "MANO")
        model = _build_smplx_module(path, "MANO", is_rhand=side == "right", num_betas=NUM_BETAS,
                                    use_pca=False, flat_hand_mean=False, batch_size=1)
        self.side = side
        self.source = str(path)
        f32 = torch.float32
        self._parents_list = list(MANO_PARENTS)
        self.register_buffer("parents", torch.as_tensor(MANO_PARENTS, dtype=torch.long))
        self.register_buffer("v_template", model.v_template.to(f32).clone())
        self.register_buffer("shapedirs", model.shapedirs.to(f32).clone())
        self.register_buffer("posedirs", model.posedirs.to(f32).clone())
        self.register_buffer("j_regressor", model.J_regressor.to(f32).clone())
        self.register_buffer("skin_weights", model.lbs_weights.to(f32).clone())
        self.register_buffer("hand_mean", model.hand_mean.to(f32).reshape(15, 3).clone())
        self.faces = np.asarray(model.faces, dtype=np.int32)

    @property
    def device(self) -> torch.device:
        return self.hand_mean.device

    @property
    def parent_list(self) -> list[int]:
        """The 16 MANO parent indices as a Python list."""
        return list(self._parents_list)

    def _shaped_vertices(self, betas: Tensor) -> Tensor:
        return self.v_template + torch.einsum("vkd,bd->bvk", self.shapedirs, betas)

    def rest_joints(self, betas: Tensor) -> Tensor:
        """(B, 10) -> (B, 16, 3) metres."""
        return torch.einsum("jv,bvk->bjk", self.j_regressor, self._shaped_vertices(betas))

    def rest_vertices(self, betas: np.ndarray) -> np.ndarray:
        """(10,) -> (V, 3) float32."""
        with torch.no_grad():
            b = torch.as_tensor(np.array(betas, np.float32).reshape(1, NUM_BETAS), device=self.device)
            return self._shaped_vertices(b)[0].cpu().numpy()

    def forward(self, betas: Tensor, global_orient: Tensor, hand_pose: Tensor, transl: Tensor,
                return_vertices: bool = False) -> BodyOutput:
        """betas (B,10), global_orient (B,3) wrist, hand_pose (B,15,3), transl (B,3) -> 16 joints."""
        b = global_orient.shape[0]
        for name, value, shape in (("betas", betas, (b, NUM_BETAS)), ("global_orient", global_orient, (b, 3)),
                                   ("hand_pose", hand_pose, (b, 15, 3)), ("transl", transl, (b, 3))):
            _check(name, value, shape)
        pose = torch.cat((global_orient[:, None], hand_pose + self.hand_mean), dim=1)
        rotations = kin.axis_angle_to_matrix(pose)
        rest = self.rest_joints(betas)
        joints, transforms = kin.forward_kinematics(rotations, rest, self._parents_list, transl)
        vertices = None
        if return_vertices:
            eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
            offsets = ((rotations[:, 1:] - eye).reshape(b, -1) @ self.posedirs).reshape(b, -1, 3)
            vertices = kin.linear_blend_skinning(self._shaped_vertices(betas) + offsets, transforms, rest,
                                                 self.skin_weights)
        return BodyOutput(joints=joints, transforms=transforms, vertices=vertices)

    def avatar_arrays(self) -> dict[str, np.ndarray]:
        """``avatar/*`` keys for a hands-only motion file (J = 16)."""
        idx, w = kin.top_k_skin(self.skin_weights.detach().cpu().numpy().astype(np.float64), 4)
        return {
            "avatar/model": np.asarray("mano"),
            "avatar/joint_names": np.asarray(self.joint_names),
            "avatar/parents": np.asarray(self._parents_list, dtype=np.int64),
            "avatar/faces": self.faces.astype(np.int32),
            "avatar/skin_indices": idx,
            "avatar/skin_weights": w,
            "avatar/hand_mean": self.hand_mean.detach().cpu().numpy().astype(np.float32),
        }


# --------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------

BODY_MODEL_KINDS = ("mannequin-x", "smplx")


def load_body_model(kind: str = "mannequin-x", model_dir: str | None = None, device: str = "cpu",
                    gender: str = "neutral") -> BodyModel:
    """Load a body model.

    Args:
        kind: ``mannequin-x`` (default, bundled) or ``smplx`` (needs ``model_dir``).
        model_dir: folder holding ``SMPLX_NEUTRAL.npz`` (or the file itself) for ``smplx``.
        device: torch device (``cpu``, ``cuda``).
        gender: ``neutral``, ``male`` or ``female`` (smplx only).

    Raises ModelFileError for a missing/wrong model file, ValueError for an unknown kind.
    """
    if kind == "mannequin-x":
        model: BodyModel = MannequinBody()
    elif kind == "smplx":
        if not model_dir:
            raise ModelFileError("the smplx body model needs a model folder holding SMPLX_NEUTRAL.npz "
                                 "(registration at smpl-x.is.tue.mpg.de)")
        model = SmplxBody(model_dir, gender)
    else:
        raise ValueError(f"unknown body model {kind!r}; expected one of {', '.join(BODY_MODEL_KINDS)}")
    return model.to(device)


def load_hand_model(model_dir: str, side: str, device: str = "cpu") -> HandModel:
    """Load the official MANO hand of one side (``left``/``right``) from ``model_dir``."""
    if not model_dir:
        raise ModelFileError("MANO hands need a model folder holding MANO_RIGHT.pkl / MANO_LEFT.pkl")
    return HandModel(model_dir, side).to(device)
