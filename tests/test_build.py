"""build.py makes a zip that Blender validates, installs, enables and removes cleanly.

The install check runs in a fresh interpreter (this file run as a script) with its
own BLENDER_USER_RESOURCES: a new Blender with an empty user folder, exactly like a
user's first install, and no add-on state shared with other tests. It installs the
zip with ``bpy.ops.extensions.package_install_files`` into a local user repo,
enables it, checks what got registered, then disables and uninstalls it.

What must be registered is read from the add-on's source (every ``VIDEOMOCAP_*``
operator/panel class in ``addon/``), so the check tightens as the add-on grows.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPO_MODULE = "vm_build_test"
PACKAGE = f"bl_ext.{REPO_MODULE}.video_mocap"
WORKER = REPO / ".venv" / "worker" / "bin" / "python"


def expected_classes(addon_dir: Path = REPO / "addon") -> dict[str, str]:
    """Class name -> bl_idname (operators) or "" for every VIDEOMOCAP_OT_/PT_/MT_/UL_ class in addon/."""
    found: dict[str, str] = {}
    for path in sorted(addon_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            if not node.name.startswith(("VIDEOMOCAP_OT_", "VIDEOMOCAP_PT_", "VIDEOMOCAP_MT_", "VIDEOMOCAP_UL_")):
                continue
            idname = ""
            for item in node.body:
                if (isinstance(item, ast.Assign) and any(getattr(t, "id", "") == "bl_idname" for t in item.targets)
                        and isinstance(item.value, ast.Constant) and isinstance(item.value.value, str)):
                    idname = item.value.value
            found[node.name] = idname
    return found


# -- the tests (pytest) ---------------------------------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([sys.executable, str(REPO / "build.py"), "--output-dir", str(out)],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    with (REPO / "blender_manifest.toml").open("rb") as fh:
        manifest = tomllib.load(fh)
    path = out / f"video_mocap-{manifest['version']}.zip"
    assert path.is_file() and f"built and validated {path}" in result.stdout
    return path


@pytest.mark.compat42
def test_zip_holds_the_extension_package_and_nothing_else(built_zip: Path) -> None:
    with zipfile.ZipFile(built_zip) as archive:
        names = archive.namelist()
        manifest = tomllib.loads(archive.read("blender_manifest.toml").decode())
        root_init = archive.read("__init__.py").decode()
    assert {n.split("/", 1)[0] for n in names} == {"blender_manifest.toml", "__init__.py", "addon", "core",
                                                   "models", "requirements"}
    for needed in ("addon/__init__.py", "addon/preferences.py", "addon/setup_env.py", "core/__main__.py",
                   "models/__init__.py", "requirements/worker-torch.txt", "requirements/worker.txt",
                   "requirements/worker-nodeps.txt"):
        assert needed in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/." in n or n.startswith(".")]
    assert "from .addon import register, unregister" in root_init
    assert manifest["schema_version"] == "1.0.0" and manifest["id"] == "video_mocap"
    assert manifest["type"] == "add-on" and manifest["blender_version_min"] == "4.2.0"
    assert manifest["license"] == ["SPDX:GPL-3.0-or-later"]
    assert isinstance(manifest["permissions"], dict) and set(manifest["permissions"]) == {"files", "network"}
    assert all(isinstance(reason, str) and reason for reason in manifest["permissions"].values())


def test_build_fails_clearly_on_a_bad_manifest(tmp_path: Path) -> None:
    source = tmp_path / "project"
    source.mkdir()
    for name in ("addon", "core", "models", "requirements"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    text = (REPO / "blender_manifest.toml").read_text()
    # A list instead of a table with reasons: Blender's validator refuses it.
    bad = text.replace('[permissions]\nfiles = ', 'permissions = ["files", "network"]\n[unused]\nfiles = ')
    assert bad != text
    (source / "blender_manifest.toml").write_text(bad)
    result = subprocess.run([sys.executable, str(REPO / "build.py"), "--source-dir", str(source),
                             "--output-dir", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert result.stderr.startswith("build.py: error:") and "permissions" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "dist").exists() or not list((tmp_path / "dist").iterdir())


@pytest.mark.compat42
def test_install_enable_disable_uninstall(built_zip: Path, tmp_path: Path) -> None:
    expected = expected_classes()
    assert "VIDEOMOCAP_OT_setup_worker" in expected
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    result = subprocess.run([sys.executable, __file__, str(built_zip), str(tmp_path / "repo"),
                             json.dumps(expected)], capture_output=True, text=True, env=env, timeout=300)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stdout[-4000:] + result.stderr[-4000:]
    report = json.loads(lines[-1][len("RESULT "):])

    assert report["install"] == ["FINISHED"]
    assert report["enabled"] and report["installed_files"] >= 5
    assert report["prefs_idname"] == PACKAGE
    assert set(report["prefs_properties"]) >= {"worker_python", "smplx_dir", "mano_dir"}
    assert report["missing"] == [], f"defined in addon/ but not registered: {report['missing']}"
    assert report["wrong_idname"] == []
    assert "video_mocap.setup_worker" in report["operators"]
    if any(name.startswith("VIDEOMOCAP_PT_") for name in expected):
        assert any(name.startswith("VIDEOMOCAP_PT_") for name in report["registered"])
    if "video_mocap.capture" in expected.values():
        assert "video_mocap.capture" in report["operators"]
    if WORKER.exists():  # the worker code runs from the installed extension folder
        assert report["worker_rc"] == 0, report["worker_output"]
        assert "usage: python -m core" in report["worker_output"]

    assert report["after_disable"]["registered"] == []
    assert report["after_disable"]["operators"] == []
    assert report["after_disable"]["types_added"] == []
    assert report["after_disable"]["props_added"] == {}
    assert not report["after_disable"]["enabled"]
    assert report["uninstall"] == ["FINISHED"] and not report["folder_after_uninstall"]
    assert not report["user_venv_after_uninstall"]


# -- the child: a fresh Blender that installs the zip ---------------------------------------------

def _snapshot(bpy) -> tuple[set[str], dict[str, set[str]]]:
    owners = ("Scene", "Object", "WindowManager", "Armature", "Action", "Camera")
    props = {name: set(getattr(bpy.types, name).bl_rna.properties.keys()) for name in owners}
    return set(dir(bpy.types)), props


def _child(zip_path: str, repo_dir: str, expected: dict[str, str]) -> dict:
    import bpy  # BLENDER_USER_RESOURCES was set by the parent
    import addon_utils

    report: dict = {}
    types_before, props_before = _snapshot(bpy)
    repos = bpy.context.preferences.extensions.repos
    repo = repos.new(name=REPO_MODULE, module=REPO_MODULE, custom_directory=repo_dir, source='USER')
    report["install"] = sorted(bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo=REPO_MODULE, enable_on_install=True))
    folder = os.path.join(repo_dir, "video_mocap")
    report["installed_files"] = sum(len(files) for _, _, files in os.walk(folder))
    addons = bpy.context.preferences.addons
    report["enabled"] = PACKAGE in addons.keys()
    prefs = addons[PACKAGE].preferences if report["enabled"] else None
    report["prefs_idname"] = type(prefs).bl_idname if prefs else None
    report["prefs_properties"] = sorted(prefs.bl_rna.properties.keys()) if prefs else []

    def operators() -> list[str]:
        return sorted(f"video_mocap.{name}" for name in dir(bpy.ops.video_mocap))

    def registered() -> list[str]:
        """Python class names of what is registered (operators through bpy.ops: bpy.types lacks them)."""
        names = set()
        for idname in operators():
            rna = getattr(bpy.ops.video_mocap, idname.split(".")[1]).get_rna_type()
            names.add(bpy.types.Operator.bl_rna_get_subclass_py(rna.identifier).__name__)
        candidates = set(expected) | {n for n in dir(bpy.types) if n.startswith("VIDEOMOCAP_")}
        names |= {name for name in candidates if hasattr(bpy.types, name)}
        return sorted(names)

    report["registered"], report["operators"] = registered(), operators()
    report["missing"] = sorted(set(expected) - set(report["registered"]))
    report["wrong_idname"] = sorted(idname for name, idname in expected.items()
                                    if name.startswith("VIDEOMOCAP_OT_") and idname
                                    and idname not in report["operators"])

    if WORKER.exists():
        worker = subprocess.run([str(WORKER), "-m", "core", "--help"], cwd=folder, capture_output=True,
                                text=True, timeout=240)
        report["worker_rc"], report["worker_output"] = worker.returncode, (worker.stdout + worker.stderr)[-2000:]

    addon_utils.disable(PACKAGE, default_set=True, handle_error=None)
    types_after, props_after = _snapshot(bpy)
    report["after_disable"] = {
        "enabled": PACKAGE in addons.keys(),
        "registered": registered(),
        "operators": operators(),
        "types_added": sorted(types_after - types_before),
        "props_added": {k: sorted(v - props_before[k]) for k, v in props_after.items() if v - props_before[k]},
    }
    # where the setup operator puts the worker venv: uninstalling must remove it too
    user_venv = bpy.utils.extension_path_user(PACKAGE, path="worker-venv", create=True)
    repo_index = list(repos).index(repo)
    report["uninstall"] = sorted(bpy.ops.extensions.package_uninstall(repo_index=repo_index,
                                                                      pkg_id="video_mocap"))
    report["folder_after_uninstall"] = os.path.exists(folder)
    report["user_venv_after_uninstall"] = os.path.exists(user_venv)
    return report


if __name__ == "__main__":
    print("RESULT " + json.dumps(_child(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))), flush=True)
