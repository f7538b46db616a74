"""Fixtures for the add-on tests: headless bpy, the add-on enabled as an extension, and
motion files built with numpy in the exact ``video-mocap-motion/1`` format."""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

if "bpy" not in sys.modules:
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="vm_addon_user_")

import bpy  # noqa: E402  (after BLENDER_USER_RESOURCES)
import addon_utils  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from models.skeleton import MANO_JOINT_NAMES, MANO_PARENTS, SMPLX_JOINT_NAMES, SMPLX_PARENTS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WORKER_PYTHON = REPO / ".venv" / "worker" / "bin" / "python"
ROOT_INIT = "from .addon import register, unregister\n"


def enable_extension(root: Path, repo_module: str) -> tuple[str, object]:
    """Enable this checkout as the extension ``bl_ext.<repo_module>.video_mocap``, the way
    Blender loads an installed one. Returns (package name, repo) for :func:`disable_extension`."""
    package = root / "video_mocap"
    package.mkdir(parents=True, exist_ok=True)
    for name in ("addon", "core", "models", "requirements", "blender_manifest.toml"):
        if not (package / name).exists():
            (package / name).symlink_to(REPO / name)
    (package / "__init__.py").write_text(ROOT_INIT, encoding="utf-8")
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(name=repo_module, module=repo_module, custom_directory=str(root), source="USER")
    name = f"bl_ext.{repo_module}.video_mocap"
    module = addon_utils.enable(name, default_set=True, handle_error=None)
    assert module is not None, "the extension failed to enable"
    return name, repo


def disable_extension(name: str, repo: object) -> None:
    addon_utils.disable(name, default_set=True, handle_error=None)
    bpy.context.preferences.extensions.repos.remove(repo)


@pytest.fixture(scope="module")
def ext(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The enabled extension's ``addon`` package (disabled again after the module's tests)."""
    name, repo = enable_extension(tmp_path_factory.mktemp("ext_repo"), "vm_addon_test")
    try:
        yield importlib.import_module(f"{name}.addon")
    finally:
        disable_extension(name, repo)


@pytest.fixture
def empty_scene() -> bpy.types.Scene:
    """A fresh, empty scene (home file without objects)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    return bpy.context.scene


def tree_skeleton(rng: np.random.Generator, parents: Sequence[int], spread: float, rise: float,
                  root: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
    """(J,3) rest joints, metres: each joint is its parent plus a random offset (normal,
    ``spread`` m per axis) and ``rise`` m up (+y); the root stands at ``root``."""
    rest = np.zeros((len(parents), 3))
    rest[0] = root
    for j in range(1, len(parents)):
        rest[j] = rest[parents[j]] + rng.normal(size=3) * spread + np.array([0.0, rise, 0.0])
    return rest


def _skeleton(rng: np.random.Generator, parents: tuple[int, ...], scale: float) -> np.ndarray:
    """(J,3) rest joints: random but plausible offsets from each parent, metres."""
    return tree_skeleton(rng, parents, scale, 0.3 * scale, root=(0.0, 0.9, 0.0))


def bake_avatar(scene: bpy.types.Scene, rest_joints: np.ndarray, go: np.ndarray, transl: np.ndarray,
                local: np.ndarray, action_name: str, fps: int = 24):  # noqa: ANN201 (addon.rig.Avatar)
    """An SMPL-X avatar (addon.rig) in ``scene`` keyed on frames 1..T at ``fps`` (addon.keys).

    Args:
        rest_joints: (55,3) metres, model frame. go: (T,3) and local: (T,55,3) axis-angle,
            radians (the root row of local is ignored). transl: (T,3) metres, camera frame.
    """
    from addon import keys, rig

    frames = len(go)
    scene.render.fps = fps
    scene.frame_start, scene.frame_end = 1, frames
    av = rig.build_avatar("capture", scene.collection, joint_names=SMPLX_JOINT_NAMES,
                          parents=np.array(SMPLX_PARENTS), rest_joints=rest_joints)
    location, quats = rig.pose_keys(av, go, transl, local)
    keys.write_channels(av.armature, np.arange(1, frames + 1, dtype=np.float64),
                        rig.pose_channels(av, location, quats), action_name=action_name)
    return av


def _mesh(rest: np.ndarray, parents: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A small skinned mesh: one triangle per joint between it and its parent.

    Returns vertices (3J,3), faces (J,3), skin indices and weights (3J,4)."""
    count = len(parents)
    verts, faces, idx, wts = [], [], [], []
    for j in range(count):
        p = max(parents[j], 0)
        mid = 0.5 * (rest[j] + rest[p])
        for k, off in enumerate(([0.02, 0, 0], [-0.02, 0, 0.01], [0, 0.02, -0.01])):
            verts.append(mid + np.asarray(off) + 0.01 * k)
            idx.append([j, p, 0, 0] if j else [0, 0, 0, 0])
            wts.append([0.6, 0.4, 0.0, 0.0] if j and p != j else [1.0, 0.0, 0.0, 0.0])
        faces.append([3 * j, 3 * j + 1, 3 * j + 2])
    return (np.asarray(verts, np.float32), np.asarray(faces, np.int32), np.asarray(idx, np.int32),
            np.asarray(wts, np.float32))


def make_motion(frames: int = 12, people: int = 2, *, subject: str = "body", seed: int = 0,
                frame_index: np.ndarray | None = None, source: str = "", with_mesh: bool = True,
                fps: float = 25.0) -> dict[str, np.ndarray]:
    """Arrays of a ``video-mocap-motion/1`` file (docs/formats.md), random but valid."""
    rng = np.random.default_rng(seed)
    if subject == "hands":
        names, parents, scale = MANO_JOINT_NAMES, MANO_PARENTS, 0.03
    else:
        names, parents, scale = SMPLX_JOINT_NAMES, SMPLX_PARENTS, 0.08
    m: dict[str, np.ndarray] = {
        "format": np.array("video-mocap-motion/1"), "subject": np.array(subject), "source": np.array(source),
        "fps": np.array(fps), "image_size": np.array([640, 480]),
        "frame_index": np.arange(frames) if frame_index is None else np.asarray(frame_index),
        "camera_focal_px": np.array([700.0, 700.0]), "camera_center_px": np.array([330.0, 235.0]),
        "camera_focal_std_px": np.array(0.0), "camera_focal_source": np.array("user"),
        "person_ids": np.arange(people) * 3 + 1, "flat_hand_mean": np.array(False),
        "avatar/model": np.array("mano" if subject == "hands" else "mannequin-x"),
        "avatar/joint_names": np.array(names), "avatar/parents": np.array(parents),
        "avatar/hand_mean": (rng.normal(size=(30, 3)) * 0.2).astype(np.float32),
    }
    rest0 = _skeleton(rng, parents, scale)
    _, faces, skin_i, skin_w = _mesh(rest0, parents)
    if with_mesh:
        m["avatar/faces"], m["avatar/skin_indices"], m["avatar/skin_weights"] = faces, skin_i, skin_w
    for i in range(people):
        p = f"p{i}/"
        rest = (rest0 * (1.0 + 0.1 * i)).astype(np.float32)
        m[p + "valid"] = rng.random(frames) > 0.1
        m[p + "confidence"] = rng.random(frames).astype(np.float32)
        m[p + "global_orient"] = rng.normal(size=(frames, 3)).astype(np.float32)
        m[p + "transl"] = (rng.normal(size=(frames, 3)) * 0.3 + [0.5 * i, 0.0, 4.0]).astype(np.float32)
        m[p + "rest_joints"] = rest
        if with_mesh:
            m[p + "rest_vertices"] = _mesh(rest, parents)[0]
        if subject == "hands":
            m[p + "side"] = np.array("left" if i % 2 == 0 else "right")
            m[p + "hand_pose"] = (rng.normal(size=(frames, 15, 3)) * 0.3).astype(np.float32)
        else:
            m[p + "betas"] = rng.normal(size=10).astype(np.float32)
            m[p + "body_pose"] = (rng.normal(size=(frames, 21, 3)) * 0.4).astype(np.float32)
            m[p + "left_hand_pose"] = (rng.normal(size=(frames, 15, 3)) * 0.3).astype(np.float32)
            m[p + "right_hand_pose"] = (rng.normal(size=(frames, 15, 3)) * 0.3).astype(np.float32)
            m[p + "jaw_pose"] = (rng.normal(size=(frames, 3)) * 0.1).astype(np.float32)
            m[p + "expression"] = np.zeros((frames, 10), np.float32)
    return m


def save_motion(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write the arrays as an .npz (uncompressed, no pickles)."""
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def local_rotations(m: dict[str, np.ndarray], i: int) -> np.ndarray:
    """(T,J,3) per-joint axis-angle of person i as the rig must reproduce it (mean hand added)."""
    subject = str(m["subject"])
    names = m["avatar/joint_names"]
    frames = len(m[f"p{i}/global_orient"])
    out = np.zeros((frames, len(names), 3))
    out[:, 0] = m[f"p{i}/global_orient"]
    if subject == "hands":
        half = slice(0, 15) if str(m[f"p{i}/side"]) == "left" else slice(15, 30)
        out[:, 1:] = m[f"p{i}/hand_pose"] + m["avatar/hand_mean"][half]
    else:
        out[:, 1:22] = m[f"p{i}/body_pose"]
        out[:, 22] = m[f"p{i}/jaw_pose"]
        out[:, 25:40] = m[f"p{i}/left_hand_pose"] + m["avatar/hand_mean"][:15]
        out[:, 40:55] = m[f"p{i}/right_hand_pose"] + m["avatar/hand_mean"][15:]
    return out


def forward_kinematics(m: dict[str, np.ndarray], i: int) -> np.ndarray:
    """(T,J,4,4) global joint transforms in the camera frame, float64, by the contract's rule:
    G_0 = [R(global_orient) | rest_0 + transl], G_j = G_parent [R(local_j) | rest_j - rest_parent]."""
    local = local_rotations(m, i)
    rest = np.asarray(m[f"p{i}/rest_joints"], dtype=np.float64)
    parents = np.asarray(m["avatar/parents"])
    frames, count = local.shape[:2]
    angle = np.linalg.norm(local, axis=-1, keepdims=True)
    axis = local / np.where(angle < 1e-12, 1.0, angle)
    kx = np.zeros(local.shape[:2] + (3, 3))
    kx[..., 0, 1], kx[..., 0, 2] = -axis[..., 2], axis[..., 1]
    kx[..., 1, 0], kx[..., 1, 2] = axis[..., 2], -axis[..., 0]
    kx[..., 2, 0], kx[..., 2, 1] = -axis[..., 1], axis[..., 0]
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    rot = np.eye(3) + s * kx + (1 - c) * kx @ kx  # Rodrigues
    g = np.zeros((frames, count, 4, 4))
    for j in range(count):
        local_m = np.zeros((frames, 4, 4))
        local_m[:, :3, :3] = rot[:, j]
        local_m[:, 3, 3] = 1.0
        if parents[j] < 0:
            local_m[:, :3, 3] = rest[0] + m[f"p{i}/transl"]
            g[:, j] = local_m
        else:
            local_m[:, :3, 3] = rest[j] - rest[parents[j]]
            g[:, j] = g[:, parents[j]] @ local_m
    return g


@pytest.fixture(scope="session")
def motion_tools():
    """Helpers for tests: ``make`` (arrays), ``save`` (.npz), ``fk`` (camera-frame joint
    transforms by the contract's rule), ``local`` (per-joint rotations incl. mean hand)."""
    from types import SimpleNamespace

    return SimpleNamespace(make=make_motion, save=save_motion, fk=forward_kinematics, local=local_rotations)


@pytest.fixture(scope="session")
def avatar_tools():
    """Helpers for tests that need a keyed SMPL-X avatar: ``skeleton`` (rest joints grown
    from the root) and ``bake`` (build the avatar and key a motion on it)."""
    from types import SimpleNamespace

    return SimpleNamespace(skeleton=tree_skeleton, bake=bake_avatar)


@pytest.fixture(scope="session")
def worker_parse():
    """``parse(argv) -> dict``: ``argv`` parsed by the real worker's own argument parser (in the
    worker's Python), to check what the add-on would run."""
    import json
    import subprocess

    def parse(argv: list[str]) -> dict:
        code = ("import json, sys; from core.__main__ import build_parser; p, _ = build_parser(); "
                "a = p.parse_args(json.loads(sys.argv[1])); print(json.dumps(vars(a)))")
        result = subprocess.run([str(WORKER_PYTHON), "-c", code, json.dumps(argv)], cwd=REPO,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    return parse


@pytest.fixture(scope="session")
def extension_loader():
    """(enable_extension, disable_extension) for tests that manage the extension themselves."""
    return enable_extension, disable_extension
