"""Official SMPL-X / MANO model files: finding them, and writing small files of the same format.

The official files (``SMPLX_NEUTRAL.npz`` from smpl-x.is.tue.mpg.de, ``MANO_RIGHT.pkl`` /
``MANO_LEFT.pkl`` from mano.is.tue.mpg.de) need registration and a non-commercial
licence: they are never bundled, only used when the user points to them.

:func:`write_smplx_npz` and :func:`write_mano_pkl` write *synthetic* files with the
real keys, dtypes and array layouts (a tiny mesh: one small octahedron per joint
around an SMPL-X-like skeleton) so the official code path can be tested and
demonstrated without the real files. Nothing in them comes from the real models.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from core.errors import ModelFileError
from models.skeleton import MANO_PARENTS, SMPLX_PARENTS

SMPLX_REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                       "kintree_table", "f", "hands_meanl", "hands_meanr",
                       "hands_componentsl", "hands_componentsr", "lmk_faces_idx", "lmk_bary_coords")
MANO_REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                      "kintree_table", "f", "hands_mean", "hands_components")


GENDERS = ("neutral", "male", "female")
"""The SMPL-X model files of the official release: ``SMPLX_NEUTRAL``, ``SMPLX_MALE``, ``SMPLX_FEMALE``."""


def find_smplx_file(model_dir: str | os.PathLike[str], gender: str = "neutral") -> Path:
    """The SMPL-X file to load: ``model_dir`` itself if it is a file, else
    ``SMPLX_<GENDER>.npz`` (or ``.pkl``) in ``model_dir`` or ``model_dir/smplx``.

    Raises ModelFileError (saying where it looked, and which other genders are there) if there is none.
    """
    if gender not in GENDERS:
        raise ModelFileError(f"unknown SMPL-X gender {gender!r}; expected one of {', '.join(GENDERS)}")
    try:
        return _find(Path(model_dir), [f"SMPLX_{gender.upper()}.npz", f"SMPLX_{gender.upper()}.pkl"],
                     "smplx", "SMPL-X")
    except ModelFileError as exc:
        root = Path(model_dir)
        others = [g for g in GENDERS if g != gender and any(
            (folder / f"SMPLX_{g.upper()}{ext}").is_file() for folder in (root, root / "smplx")
            for ext in (".npz", ".pkl"))]
        if others:
            raise ModelFileError(f"{exc}; the folder has the {' and '.join(others)} model: "
                                 f"choose gender {others[0]}") from None
        raise


def find_mano_file(model_dir: str | os.PathLike[str], side: str) -> Path:
    """``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` (or ``.npz``) in ``model_dir`` or ``model_dir/mano``."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    return _find(Path(model_dir), [f"MANO_{side.upper()}.pkl", f"MANO_{side.upper()}.npz"], "mano", "MANO")


def _find(root: Path, names: list[str], sub: str, what: str) -> Path:
    if root.is_file():
        return root
    if not root.exists():
        raise ModelFileError(f"{what} model folder {str(root)!r} does not exist")
    tried = []
    for folder in (root, root / sub):
        for name in names:
            candidate = folder / name
            tried.append(str(candidate))
            if candidate.is_file():
                return candidate
    raise ModelFileError(f"no {what} model file found; looked for: {', '.join(tried)} "
                         f"(download it from the official site after registering; it cannot be bundled)")


def read_model_arrays(path: Path, required: tuple[str, ...], what: str) -> dict[str, object]:
    """Read an official model file (.npz or .pkl) into a dict, checking the keys are there.

    ``.pkl`` files of the official releases may hold chumpy arrays: reading those needs
    the ``chumpy`` package; the error says so.
    """
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=True) as data:  # official npz files hold pickled scalars
                arrays: dict[str, object] = {k: data[k] for k in data.files}
        elif path.suffix == ".pkl":
            with open(path, "rb") as f:
                arrays = dict(pickle.load(f, encoding="latin1"))
        else:
            raise ModelFileError(f"{path}: expected a .npz or .pkl {what} model file")
    except ModelFileError:
        raise
    except ModuleNotFoundError as exc:
        raise ModelFileError(f"{path}: this {what} file needs the '{exc.name}' package to read "
                             f"(use the .npz release of the model instead)") from exc
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, TypeError, AttributeError,
            zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: not a readable {what} model file ({exc})") from exc
    missing = [k for k in required if k not in arrays]
    if missing:
        raise ModelFileError(f"{path}: not a {what} model file (missing {', '.join(missing)})")
    return arrays


def check_kintree(path: Path, kintree: object, parents: tuple[int, ...], what: str) -> None:
    """Raise ModelFileError unless the file's kinematic tree is ``parents``."""
    table = np.asarray(kintree)
    if table.ndim != 2 or table.shape[1] != len(parents):
        raise ModelFileError(f"{path}: {what} kintree_table has shape {table.shape}, "
                             f"expected (2, {len(parents)})")
    found = table[0].astype(np.int64).copy()
    found[0] = -1
    if tuple(int(p) for p in found) != parents:
        raise ModelFileError(f"{path}: the {what} joint hierarchy differs from the expected one")


# --------------------------------------------------------------------------------------
# synthetic files of the official format (tests, demos)
# --------------------------------------------------------------------------------------

_FACE_JOINTS = (15, 22, 23, 24)
"""head, jaw, left_eye, right_eye: the parts carrying the synthetic face landmarks."""
_LANDMARK_PARTS = ((15, 19), (24, 6), (23, 6), (15, 7), (22, 5), (15, 5), (22, 3))
"""(joint whose part carries them, count) for the 51 landmarks in order: brows and nose on the head,
each eye on its eye, upper lips on the head, lower lips on the jaw (iBUG-68 points 17..67)."""
_OCTAHEDRON = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], np.float64)
_OCTA_FACES = np.array([[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4],
                        [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]], np.int64)


def _octahedron_mesh(joints: np.ndarray, parents: tuple[int, ...], radius: float,
                     rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One octahedron per joint; weights split between the joint and its parent; the
    regressor averages each joint's own octahedron (so it returns the joint exactly)."""
    num = len(joints)
    verts = (joints[:, None, :] + radius * _OCTAHEDRON[None]).reshape(-1, 3)
    faces = (np.arange(num)[:, None, None] * 6 + _OCTA_FACES[None]).reshape(-1, 3)
    weights = np.zeros((num * 6, num))
    regressor = np.zeros((num, num * 6))
    for j in range(num):
        rows = slice(6 * j, 6 * j + 6)
        regressor[j, rows] = 1.0 / 6.0
        own = 0.7 + 0.3 * rng.random(6)
        weights[rows, j] = own
        if parents[j] >= 0:
            weights[rows, parents[j]] += 1.0 - own
        else:
            weights[rows, j] = 1.0
    return {"v_template": verts, "f": faces, "weights": weights, "J_regressor": regressor}


def write_smplx_npz(path: str | os.PathLike[str], joints: np.ndarray | None = None,
                    seed: int = 0, num_shape: int = 300, num_expression: int = 100) -> Path:
    """Write a synthetic SMPL-X model file in the official ``SMPLX_*.npz`` layout.

    Args:
        path: output file (``.../SMPLX_NEUTRAL.npz``).
        joints: (55, 3) rest joints in metres (model frame); default: mannequin-x's
            SMPL-X-calibrated neutral skeleton if installed, else a rough stick figure.
        seed: random seed for the blend shapes and hand means.
        num_shape, num_expression: blend-shape counts (official: 300 and 100).

    The 51 face landmarks lie on the octahedra of the head, jaw and eyes, and the expression
    blend shapes deform only those (zero mean per octahedron, so the joints do not move), so
    expression and jaw visibly move the landmarks as on the real face.

    Keys and layouts as in the official release: v_template (V,3), f (F,3), shapedirs
    (V,3,num_shape+num_expression), posedirs (V,3,486), J_regressor (55,V),
    weights (V,55), kintree_table (2,55), hands_meanl/r (45,), hands_componentsl/r (45,45),
    lmk_faces_idx (51,), lmk_bary_coords (51,3), dynamic_lmk_faces_idx (79,17),
    dynamic_lmk_bary_coords (79,17,3).
    """
    rng = np.random.default_rng(seed)
    if joints is None:
        joints = _default_smplx_joints()
    joints = np.asarray(joints, np.float64)
    mesh = _octahedron_mesh(joints, SMPLX_PARENTS, 0.01, rng)
    num_v, num_f = len(mesh["v_template"]), len(mesh["f"])
    # the jaw part sits where a chin would (as far past the jaw joint as the head joint is before
    # it) and the jaw joint is regressed half from it, half from the head part: opening the jaw
    # swings the chin, as on a real face
    jaw, head = _FACE_JOINTS[1], _FACE_JOINTS[0]
    mesh["v_template"][6 * jaw:6 * jaw + 6] += joints[jaw] - joints[head]
    mesh["J_regressor"][jaw] = 0.0
    mesh["J_regressor"][jaw, 6 * jaw:6 * jaw + 6] = 1.0 / 12.0
    mesh["J_regressor"][jaw, 6 * head:6 * head + 6] = 1.0 / 12.0
    # shape directions: a smooth per-joint displacement (so joints move with betas) + noise
    per_joint = rng.normal(0.0, 0.01, (55, 3, num_shape + num_expression))
    shapedirs = np.repeat(per_joint, 6, axis=0) + rng.normal(0, 1e-4, (num_v, 3, num_shape + num_expression))
    face_rng = np.random.default_rng(seed + 7919)  # face parts from their own stream (shape unchanged)
    face_rows = np.concatenate([np.arange(6 * j, 6 * j + 6) for j in _FACE_JOINTS])
    expr = np.zeros((num_v, 3, num_expression))
    # expressions deform the face parts only, zero mean per part (the joints stay put), ~5 mm
    expr[face_rows] = face_rng.normal(0.0, 0.005, (len(face_rows), 3, num_expression))
    for j in _FACE_JOINTS:
        expr[6 * j:6 * j + 6] -= expr[6 * j:6 * j + 6].mean(0, keepdims=True)
    shapedirs[:, :, num_shape:] = expr
    hands_comp = np.linalg.qr(rng.normal(size=(45, 45)))[0]
    arrays = dict(
        v_template=mesh["v_template"], f=mesh["f"].astype(np.uint32),
        shapedirs=shapedirs, posedirs=rng.normal(0, 1e-3, (num_v, 3, 54 * 9)),
        J_regressor=mesh["J_regressor"], weights=mesh["weights"],
        kintree_table=np.stack([np.array([4294967295, *SMPLX_PARENTS[1:]], np.int64),
                                np.arange(55)]).astype(np.int64),
        hands_meanl=rng.normal(0, 0.2, 45), hands_meanr=rng.normal(0, 0.2, 45),
        hands_componentsl=hands_comp, hands_componentsr=hands_comp[::-1].copy(),
        lmk_faces_idx=np.concatenate([face_rng.integers(8 * j, 8 * j + 8, n) for j, n in _LANDMARK_PARTS]),
        lmk_bary_coords=face_rng.dirichlet(np.ones(3), 51),
        dynamic_lmk_faces_idx=rng.integers(0, num_f, (79, 17)).astype(np.int64),
        dynamic_lmk_bary_coords=rng.dirichlet(np.ones(3), (79, 17)),
        vt=rng.random((num_v, 2)), ft=mesh["f"].astype(np.uint32),
        part2num=np.array({"body": 0}, dtype=object), joint2num=np.array({"pelvis": 0}, dtype=object),
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    return out


def write_mano_pkl(path: str | os.PathLike[str], side: str = "right", joints: np.ndarray | None = None,
                   seed: int = 0) -> Path:
    """Write a synthetic MANO model file in the official ``MANO_RIGHT.pkl`` layout (a latin-1
    pickle of a dict of numpy arrays; the real files hold chumpy arrays in the same places).

    Keys: v_template (V,3), f (F,3), shapedirs (V,3,10), posedirs (V,3,135), J_regressor (16,V),
    weights (V,16), kintree_table (2,16), hands_mean (45,), hands_components (45,45).
    ``joints``: (16, 3) rest joints in metres (default: a plausible right/left hand).
    """
    rng = np.random.default_rng(seed)
    if joints is None:
        joints = _default_mano_joints(side)
    mesh = _octahedron_mesh(np.asarray(joints, np.float64), MANO_PARENTS, 0.004, rng)
    num_v = len(mesh["v_template"])
    arrays = dict(
        v_template=mesh["v_template"], f=mesh["f"].astype(np.uint32),
        shapedirs=np.repeat(rng.normal(0, 0.002, (16, 3, 10)), 6, axis=0),
        posedirs=rng.normal(0, 1e-4, (num_v, 3, 15 * 9)),
        J_regressor=mesh["J_regressor"], weights=mesh["weights"],
        kintree_table=np.stack([np.array([4294967295, *MANO_PARENTS[1:]], np.int64), np.arange(16)]),
        hands_mean=rng.normal(0, 0.2, 45), hands_components=np.linalg.qr(rng.normal(size=(45, 45)))[0],
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        pickle.dump(arrays, f, protocol=2)
    return out


def _default_smplx_joints() -> np.ndarray:
    try:
        from models.body import mannequin_rest_joints
        return mannequin_rest_joints(np.zeros(10))
    except ImportError:  # pragma: no cover - mannequin-x is a worker requirement
        rng = np.random.default_rng(1)
        joints = np.zeros((55, 3))
        for j, p in enumerate(SMPLX_PARENTS[1:], start=1):
            joints[j] = joints[p] + rng.normal(0, 0.08, 3)
        return joints


def _default_mano_joints(side: str) -> np.ndarray:
    """(16, 3) a flat hand, metres, fingers along +x (right) or -x (left), palm facing -y."""
    sign = 1.0 if side == "right" else -1.0
    joints = np.zeros((16, 3))
    bases = {1: (0.09, 0.0, 0.03), 4: (0.095, 0.0, 0.01), 7: (0.08, 0.0, -0.035),
             10: (0.088, 0.0, -0.012), 13: (0.03, -0.01, 0.035)}
    for start, base in bases.items():
        direction = np.array([1.0, 0.0, 0.0]) if start != 13 else np.array([0.6, 0.0, 0.8])
        for k in range(3):
            joints[start + k] = np.array(base) + direction * 0.028 * k
    joints[:, 0] *= sign
    return joints
