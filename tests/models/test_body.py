"""Body models: mannequin-x backend against mannequin's own numpy code, official SMPL-X/MANO
backends (synthetic files of the official format) against smplx's lbs, errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import smplx
import smplx.joint_names
import torch
from mannequin import Mannequin
from smplx.lbs import lbs

from core.errors import ModelFileError
from models import kinematics as kin
from models.body import FACE_JOINT_OFFSETS, load_body_model, load_hand_model
from models.skeleton import (
    MANNEQUIN_TO_SMPLX,
    MANO_JOINT_NAMES,
    MANO_PARENTS,
    SMPLX_JOINT_NAMES,
    SMPLX_PACKAGE_NAMES,
    SMPLX_PARENTS,
)


@pytest.fixture(scope="module")
def mannequin_body():
    return load_body_model("mannequin-x")


def _params(batch: int, seed: int, scale: float = 0.5, shared_betas: bool = True) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    betas = torch.randn(1, 10, generator=g).expand(batch, 10).clone() if shared_betas else torch.randn(
        batch, 10, generator=g)
    return dict(betas=betas, global_orient=r(batch, 3) * 4, body_pose=r(batch, 21, 3),
                left_hand_pose=r(batch, 15, 3), right_hand_pose=r(batch, 15, 3),
                jaw_pose=r(batch, 3), transl=r(batch, 3) * 4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mannequin_backend_matches_mannequin_numpy(mannequin_body, seed: int) -> None:
    p = _params(3, seed)
    out = mannequin_body(**p, return_vertices=True)
    betas = p["betas"][0].numpy()
    reference = Mannequin("wooden", shape=betas)
    # mannequin places the root at R @ J0 + global_translation; ours at J0 + transl (smplx)
    j0 = mannequin_body.rest_joints(p["betas"])[:, 0].numpy()
    rot = kin.axis_angle_to_matrix_np(p["global_orient"].numpy())
    pose = dict(body_pose=p["body_pose"].numpy(), head_pose=np.zeros((3, 3, 3), np.float32),
                hand_pose=torch.cat((p["left_hand_pose"], p["right_hand_pose"]), 1).numpy(),
                global_rotation=p["global_orient"].numpy(), shape=p["betas"].numpy(),
                global_translation=(p["transl"].numpy() + j0 - np.einsum("bij,bj->bi", rot, j0)).astype(np.float32))
    ref_t = reference.forward_skeleton(**pose)
    names = reference.joint_names
    keep = [i for i, n in enumerate(names) if n not in ("L_Hand", "R_Hand")]
    ours = [SMPLX_JOINT_NAMES.index(MANNEQUIN_TO_SMPLX[names[i]]) for i in keep]
    np.testing.assert_allclose(out.transforms[:, ours].numpy(), ref_t[:, keep], atol=1e-5)
    np.testing.assert_allclose(out.joints[:, ours].numpy(), ref_t[:, keep][..., :3, 3], atol=1e-5)
    np.testing.assert_allclose(out.vertices.numpy(), reference.vertices(pose), atol=1e-5)


def test_mannequin_rest_vertices_and_joints_match_reference(mannequin_body) -> None:
    betas = np.random.default_rng(5).normal(0, 1, 10).astype(np.float32)
    reference = Mannequin("wooden", shape=betas, flat_hand_mean=True)  # the bind pose: flat hands
    np.testing.assert_allclose(mannequin_body.rest_vertices(betas), reference.vertices(reference.rest_pose()),
                               atol=1e-5)
    rest = mannequin_body.rest_joints_np(betas)
    ref_joints = reference.forward_skeleton(**reference.rest_pose())[..., :3, 3]
    for i, name in enumerate(reference.joint_names):
        if name not in ("L_Hand", "R_Hand"):
            np.testing.assert_allclose(rest[SMPLX_JOINT_NAMES.index(MANNEQUIN_TO_SMPLX[name])], ref_joints[i],
                                       atol=1e-5)


def test_per_frame_betas_and_differentiable_joints(mannequin_body) -> None:
    p = _params(4, 7, shared_betas=False)
    p["betas"].requires_grad_(True)
    out = mannequin_body(**p, return_vertices=True)
    out.joints.square().sum().backward()
    assert p["betas"].grad is not None and torch.isfinite(p["betas"].grad).all()
    assert p["betas"].grad.abs().sum() > 0
    for b in range(4):  # each frame used its own shape
        single = {k: v[b:b + 1].detach() for k, v in p.items()}
        np.testing.assert_allclose(mannequin_body(**single, return_vertices=True).vertices.numpy(),
                                   out.vertices[b:b + 1].detach().numpy(), atol=1e-5)


def test_rest_joints_linear_in_betas(mannequin_body) -> None:
    b1, b2 = torch.randn(1, 10), torch.randn(1, 10)
    mid = mannequin_body.rest_joints(0.5 * (b1 + b2))
    torch.testing.assert_close(mid, 0.5 * (mannequin_body.rest_joints(b1) + mannequin_body.rest_joints(b2)))


def test_face_joints_are_rigid_children_of_head(mannequin_body) -> None:
    p = _params(6, 3)
    out = mannequin_body(**p)
    rest = mannequin_body.rest_joints(p["betas"])
    head = SMPLX_JOINT_NAMES.index("head")
    for name, offset in FACE_JOINT_OFFSETS.items():
        j = SMPLX_JOINT_NAMES.index(name)
        torch.testing.assert_close(rest[:, j] - rest[:, head], torch.tensor(offset).expand(6, 3))
        dist = (out.joints[:, j] - out.joints[:, head]).norm(dim=-1)
        torch.testing.assert_close(dist, torch.full((6,), float(np.linalg.norm(offset))))
    # eyes in front of the head and at either side, left eye at +x (the body's left)
    assert FACE_JOINT_OFFSETS["left_eye"][0] > 0 > FACE_JOINT_OFFSETS["right_eye"][0]


def test_hand_mean_is_the_rest_of_zero_hand_pose(mannequin_body) -> None:
    p = _params(1, 9)
    p["left_hand_pose"] = -mannequin_body.hand_mean[:15][None].clone()
    p["right_hand_pose"] = -mannequin_body.hand_mean[15:][None].clone()
    out = mannequin_body(**p)
    left = slice(25, 40)
    rot = out.transforms[0, left, :3, :3]
    torch.testing.assert_close(rot, out.transforms[0, 20, :3, :3].expand(15, 3, 3), atol=1e-6, rtol=0)


def test_joint_names_and_hierarchy_agree_across_backends(mannequin_body, official_model_dir: Path) -> None:
    body = load_body_model("smplx", str(official_model_dir))
    assert mannequin_body.joint_names == body.joint_names == SMPLX_JOINT_NAMES
    assert mannequin_body.parents.tolist() == body.parents.tolist() == list(SMPLX_PARENTS)
    assert mannequin_body.parent_list == body.parent_list == list(SMPLX_PARENTS)
    # the smplx package's own names and the file's kintree
    theirs = tuple(smplx.joint_names.JOINT_NAMES[:55])
    assert tuple(SMPLX_PACKAGE_NAMES.get(n, n) for n in SMPLX_JOINT_NAMES) == theirs
    ref = smplx.SMPLX(str(official_model_dir), num_betas=10, use_pca=False)
    assert ref.parents.tolist() == list(SMPLX_PARENTS)
    # mannequin-x's own hierarchy, its rigid hand joints folded into the wrists
    reference = Mannequin("wooden")
    names = reference.joint_names
    for i, name in enumerate(names):
        if name in ("L_Hand", "R_Hand") or reference.parents[i] < 0:
            continue
        parent = names[reference.parents[i]]
        parent = {"L_Hand": "L_Wrist", "R_Hand": "R_Wrist"}.get(parent, parent)
        j = SMPLX_JOINT_NAMES.index(MANNEQUIN_TO_SMPLX[name])
        assert SMPLX_PARENTS[j] == SMPLX_JOINT_NAMES.index(MANNEQUIN_TO_SMPLX[parent])
    a_m, a_s = mannequin_body.avatar_arrays(), body.avatar_arrays()
    assert a_s.keys() - a_m.keys() == {"avatar/gender", "avatar/source", "avatar/expression_dirs"}
    assert a_m.keys() <= a_s.keys() and a_s["avatar/expression_dirs"].shape == (body.num_vertices, 3, 10)
    assert str(a_s["avatar/gender"]) == "neutral" and str(a_s["avatar/source"]) == "SMPLX_NEUTRAL.npz"
    assert a_m["avatar/joint_names"].tolist() == a_s["avatar/joint_names"].tolist()
    assert a_m["avatar/parents"].tolist() == a_s["avatar/parents"].tolist()


def test_smplx_backend_matches_smplx_lbs(official_model_dir: Path) -> None:
    body = load_body_model("smplx", str(official_model_dir))
    ref = smplx.SMPLX(str(official_model_dir), num_betas=10, use_pca=False, flat_hand_mean=False)
    p = _params(3, 11, shared_betas=False)
    expression = torch.zeros(3, 10)
    out = body(**p, return_vertices=True, expression=expression)
    assert (body(**p, return_vertices=True, expression=torch.randn(3, 10)).vertices - out.vertices).abs().max() > 1e-4
    full = torch.cat((p["global_orient"][:, None], p["body_pose"], p["jaw_pose"][:, None], torch.zeros(3, 2, 3),
                      p["left_hand_pose"], p["right_hand_pose"]), 1).reshape(3, -1) + ref.pose_mean
    verts, joints = lbs(torch.cat((p["betas"], expression), 1), full, ref.v_template,
                        torch.cat((ref.shapedirs, ref.expr_dirs), -1), ref.posedirs, ref.J_regressor,
                        ref.parents, ref.lbs_weights)
    torch.testing.assert_close(out.vertices, verts + p["transl"][:, None], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.joints, joints + p["transl"][:, None], atol=1e-5, rtol=0)
    np.testing.assert_allclose(body.hand_mean.numpy().reshape(-1),
                               np.concatenate((ref.left_hand_mean.numpy(), ref.right_hand_mean.numpy())))
    rv = body.rest_vertices(p["betas"][0].numpy())
    np.testing.assert_allclose(rv, (ref.v_template + torch.einsum("vkd,d->vk", ref.shapedirs, p["betas"][0]))
                               .numpy(), atol=1e-6)
    arrays = body.avatar_arrays()
    assert arrays["avatar/model"] == "smplx"
    assert arrays["avatar/skin_indices"].shape == (body.num_vertices, 4)
    np.testing.assert_allclose(arrays["avatar/skin_weights"].sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
def test_mano_backend_matches_smplx_lbs(official_model_dir: Path, side: str) -> None:
    hand = load_hand_model(str(official_model_dir), side)
    ref = smplx.MANO(str(official_model_dir), is_rhand=side == "right", use_pca=False, flat_hand_mean=False)
    g = torch.Generator().manual_seed(3)
    betas, orient, pose, transl = (torch.randn(2, 10, generator=g), torch.randn(2, 3, generator=g),
                                   torch.randn(2, 15, 3, generator=g) * 0.3, torch.randn(2, 3, generator=g))
    out = hand(betas, orient, pose, transl, return_vertices=True)
    full = torch.cat((orient, pose.reshape(2, -1) + ref.hand_mean), 1)
    verts, joints = lbs(betas, full, ref.v_template, ref.shapedirs, ref.posedirs, ref.J_regressor, ref.parents,
                        ref.lbs_weights)
    torch.testing.assert_close(out.vertices, verts + transl[:, None], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.joints, joints + transl[:, None], atol=1e-5, rtol=0)
    assert hand.joint_names == MANO_JOINT_NAMES
    arrays = hand.avatar_arrays()
    assert arrays["avatar/parents"].tolist() == list(MANO_PARENTS)
    assert arrays["avatar/hand_mean"].shape == (15, 3)


def test_missing_and_wrong_model_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="does not exist"):
        load_body_model("smplx", str(tmp_path / "nowhere"))
    with pytest.raises(ModelFileError, match="SMPLX_NEUTRAL.npz"):
        load_body_model("smplx", str(tmp_path))
    with pytest.raises(ModelFileError, match="needs a model folder"):
        load_body_model("smplx", None)
    with pytest.raises(ModelFileError, match="MANO_RIGHT"):
        load_hand_model(str(tmp_path), "right")
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", v_template=np.zeros((3, 3)))
    with pytest.raises(ModelFileError, match="missing"):
        load_body_model("smplx", str(tmp_path))
    (tmp_path / "SMPLX_NEUTRAL.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelFileError, match="not a readable"):
        load_body_model("smplx", str(tmp_path))
    with pytest.raises(ValueError, match="unknown body model"):
        load_body_model("smpl")


def test_wrong_hierarchy_and_truncated_official_file(official_model_dir: Path, tmp_path: Path) -> None:
    with np.load(official_model_dir / "SMPLX_NEUTRAL.npz", allow_pickle=True) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["kintree_table"] = arrays["kintree_table"].copy()
    arrays["kintree_table"][0, 5] = 1
    np.savez(tmp_path / "SMPLX_NEUTRAL.npz", **arrays)
    with pytest.raises(ModelFileError, match="hierarchy"):
        load_body_model("smplx", str(tmp_path))
    data = (official_model_dir / "SMPLX_NEUTRAL.npz").read_bytes()
    (tmp_path / "SMPLX_NEUTRAL.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        load_body_model("smplx", str(tmp_path))
    shutil.copy(official_model_dir / "SMPLX_NEUTRAL.npz", tmp_path / "model.npz")
    assert load_body_model("smplx", str(tmp_path / "model.npz")).name == "smplx"  # a file path works too


def test_forward_rejects_wrong_shapes(mannequin_body) -> None:
    p = _params(2, 0)
    p["body_pose"] = p["body_pose"][:, :20]
    with pytest.raises(ValueError, match="body_pose"):
        mannequin_body(**p)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(mannequin_body) -> None:
    p = _params(8, 4)
    cpu = mannequin_body(**p, return_vertices=True)
    gpu_model = load_body_model("mannequin-x", device="cuda")
    gpu = gpu_model(**{k: v.cuda() for k, v in p.items()}, return_vertices=True)
    torch.testing.assert_close(gpu.joints.cpu(), cpu.joints, atol=1e-5, rtol=0)
    torch.testing.assert_close(gpu.vertices.cpu(), cpu.vertices, atol=1e-5, rtol=0)


def test_face_landmarks_are_the_posed_mesh_at_the_files_landmark_triangles(official_model_dir: Path,
                                                                          mannequin_body) -> None:
    """The 51 landmarks of :meth:`face_landmarks` equal the barycentric points of the full
    forward's vertices (expression, jaw, pose correctives, skinning) on lmk_faces_idx/lmk_bary_coords."""
    body = load_body_model("smplx", str(official_model_dir))
    p = _params(4, 5)
    expression = torch.randn(4, 10, generator=torch.Generator().manual_seed(6))
    verts = body(**p, return_vertices=True, expression=expression).vertices
    with np.load(official_model_dir / "SMPLX_NEUTRAL.npz") as data:
        corners = torch.as_tensor(data["f"].astype(np.int64)[data["lmk_faces_idx"]])
        bary = torch.as_tensor(data["lmk_bary_coords"], dtype=torch.float32)
    expected = (verts[:, corners] * bary[None, :, :, None]).sum(2)
    pose = body.full_pose(p["global_orient"], p["body_pose"], p["left_hand_pose"], p["right_hand_pose"],
                          torch.zeros(4, 3))  # the jaw row is ignored: it comes with the call
    landmarks = body.face_landmarks(p["betas"][:1], pose, p["transl"])
    torch.testing.assert_close(landmarks(expression, p["jaw_pose"]), expected, atol=2e-5, rtol=0)
    # batched over leading dims (the Gauss-Newton probes), and in float64
    both = landmarks.double()(expression.double().expand(2, 4, 10), p["jaw_pose"].double().expand(2, 4, 3))
    torch.testing.assert_close(both[1].float(), expected, atol=2e-5, rtol=0)
    assert body.num_expression == 10 and mannequin_body.num_expression == 0
    with pytest.raises(NotImplementedError, match="no face landmarks"):
        mannequin_body.face_landmarks(p["betas"][:1], pose, p["transl"])
