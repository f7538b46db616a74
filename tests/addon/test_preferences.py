"""Preferences, worker-interpreter resolution and the worker setup (addon/preferences.py, setup_env.py).

The add-on is loaded the way Blender loads an installed extension (conftest's
``ext``: a local user repo linking to this checkout, ``bl_ext.<repo>.video_mocap``).
The setup class runs real subprocesses: a real venv and a real ``pip install`` of
a wheel made here, ``--no-index`` so no network is touched.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import bpy
import pytest

from addon import setup_env

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prefs_module(ext):
    """``addon.preferences`` of the add-on enabled as an extension (conftest's ``ext``)."""
    return importlib.import_module(f"{ext.__name__}.preferences")


def _wheel(folder: Path, name: str = "vm_tiny", version: str = "0.1.0") -> Path:
    """A minimal pure-Python wheel (what pip needs: module, METADATA, WHEEL, RECORD)."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "VALUE = 42\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


def _base_python() -> str:
    return setup_env.find_base_python(forbidden=[sys.executable])


def _live_group_members(group: int) -> list[int]:
    """Pids in a process group that are not zombies (Linux /proc; a container may not reap)."""
    time.sleep(0.2)
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


# -- registration and the preference properties -----------------------------------------------

@pytest.mark.compat42
def test_preferences_registered_under_the_extension_package(prefs_module) -> None:
    assert prefs_module.ADDON_ID.startswith("bl_ext.") and prefs_module.ADDON_ID.endswith(".video_mocap")
    assert prefs_module.__name__ == f"{prefs_module.ADDON_ID}.addon.preferences"
    prefs = prefs_module.get_preferences(bpy.context)
    assert prefs is not None and prefs.bl_rna.identifier == "VIDEOMOCAP_AddonPreferences"
    subtypes = {name: prefs.bl_rna.properties[name].subtype
                for name in ("worker_python", "base_python", "smplx_dir", "mano_dir")}
    assert subtypes == {"worker_python": "FILE_PATH", "base_python": "FILE_PATH",
                        "smplx_dir": "DIR_PATH", "mano_dir": "DIR_PATH"}
    assert prefs.worker_python == ""  # never defaults to Blender's interpreter
    rna = bpy.ops.video_mocap.setup_worker.get_rna_type()
    assert bpy.types.Operator.bl_rna_get_subclass_py(rna.identifier) is prefs_module.VIDEOMOCAP_OT_setup_worker


@pytest.mark.compat42
def test_root_package_of_installed_and_source_layouts(prefs_module) -> None:
    assert prefs_module._root_package("bl_ext.user_default.video_mocap.addon") == "bl_ext.user_default.video_mocap"
    assert prefs_module._root_package("addon") == "addon"


# -- resolve_worker_python ----------------------------------------------------------------------

@pytest.mark.compat42
def test_resolve_worker_python_paths_and_errors(prefs_module, tmp_path: Path) -> None:
    prefs = prefs_module.get_preferences(bpy.context)
    error = prefs_module.WorkerPythonError
    try:
        prefs.worker_python = ""
        with pytest.raises(error, match="Set up worker environment"):
            prefs_module.resolve_worker_python(bpy.context)

        prefs.worker_python = str(tmp_path / "missing" / "python")
        with pytest.raises(error, match="not found"):
            prefs_module.resolve_worker_python(bpy.context)

        prefs.worker_python = sys.executable  # Blender's own Python
        with pytest.raises(error, match="Blender's own Python"):
            prefs_module.resolve_worker_python(bpy.context)

        worker = REPO / ".venv" / "worker" / "bin" / "python"
        prefs.worker_python = str(worker)
        assert prefs_module.resolve_worker_python(bpy.context) == str(worker)
    finally:
        prefs.worker_python = ""


@pytest.mark.compat42
def test_resolve_uses_the_setup_venv_only_once_setup_finished(prefs_module) -> None:
    prefs = prefs_module.get_preferences(bpy.context)
    prefs.worker_python = ""
    venv = Path(prefs_module.default_venv_dir(create=True))
    assert venv.is_relative_to(bpy.utils.user_resource('EXTENSIONS')) and venv.name == "worker-venv"
    python = setup_env.venv_python(venv)
    python.parent.mkdir(parents=True, exist_ok=True)
    try:
        python.symlink_to(_base_python())
        with pytest.raises(prefs_module.WorkerPythonError):  # venv there, setup unfinished
            prefs_module.resolve_worker_python(bpy.context)
        (venv / setup_env.STAMP_NAME).write_text("{}", encoding="utf-8")
        assert prefs_module.resolve_worker_python(bpy.context) == str(python)
    finally:
        (venv / setup_env.STAMP_NAME).unlink(missing_ok=True)
        python.unlink(missing_ok=True)


# -- the setup operator -------------------------------------------------------------------------

@pytest.mark.compat42
def test_setup_operator_offline_says_what_to_do(prefs_module) -> None:
    assert bpy.app.online_access is False  # headless bpy: online access is off
    with pytest.raises(RuntimeError) as info:
        bpy.ops.video_mocap.setup_worker()
    message = str(info.value)
    assert "Allow Online Access" in message and "Worker Python" in message
    venv = prefs_module.default_venv_dir()
    assert f"-m venv {venv}" in message
    order = [message.index(name) for name in ("worker-torch.txt", "worker.txt", "--no-deps -r")]
    assert order == sorted(order)
    assert not setup_env.is_installed(venv)


# -- WorkerEnvSetup, the plain class --------------------------------------------------------------

def test_setup_plan_installs_torch_first_and_mediapipe_without_deps(tmp_path: Path) -> None:
    files = setup_env.worker_requirement_files(REPO / "requirements")
    job = setup_env.WorkerEnvSetup("/opt/python3.11", tmp_path / "venv", files)
    steps = job.steps()
    assert steps[0].argv == ("/opt/python3.11", "-m", "venv", str(tmp_path / "venv"))
    venv_py = str(tmp_path / "venv" / "bin" / "python")
    assert [s.argv[:4] for s in steps[1:]] == [(venv_py, "-m", "pip", "install")] * 3
    assert [s.argv[-1] for s in steps[1:]] == [str(REPO / "requirements" / n) for n in
                                               ("worker-torch.txt", "worker.txt", "worker-nodeps.txt")]
    assert ["--no-deps" in s.argv for s in steps[1:]] == [False, False, True]
    assert all(sys.executable not in s.argv for s in steps)
    assert "torch==2.13.0" in (REPO / "requirements" / "worker-torch.txt").read_text()


def test_find_base_python_refuses_blender_interpreters(tmp_path: Path) -> None:
    found = _base_python()
    identity = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"],
                              capture_output=True, text=True, check=True).stdout.strip()
    assert identity == "(3, 11)" and os.path.abspath(found) != os.path.abspath(sys.executable)
    with pytest.raises(setup_env.SetupError, match="Blender's own interpreter"):
        setup_env.find_base_python(found, forbidden=[found])
    with pytest.raises(setup_env.SetupError, match="does not run"):
        setup_env.find_base_python(str(tmp_path / "no-python"))


def test_setup_creates_a_venv_and_installs_offline(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels)
    first = tmp_path / "first.txt"
    first.write_text("vm-tiny==0.1.0\n")
    second = tmp_path / "second.txt"
    second.write_text("vm-tiny==0.1.0\n")
    venv = tmp_path / "worker venv"  # a space: argv lists, no shell
    job = setup_env.WorkerEnvSetup(_base_python(), venv,
                                   [setup_env.RequirementFile(first), setup_env.RequirementFile(second, True)],
                                   pip_args=("--no-index", "--find-links", str(wheels)))
    seen = []
    state = job.run(on_update=lambda j: seen.append((j.step_index, j.progress)))
    assert state == "done", job.error
    assert setup_env.is_installed(venv) and job.progress == 1.0
    assert [index for index, _ in seen] == sorted(index for index, _ in seen)  # steps in order
    assert {index for index, _ in seen} >= {0, 2}
    out = subprocess.run([str(job.python), "-c", "import sys, vm_tiny; print(vm_tiny.VALUE, sys.prefix)"],
                         capture_output=True, text=True, check=True).stdout.split(maxsplit=1)
    assert out[0] == "42" and Path(out[1].strip()) == venv
    assert any("vm-tiny" in line.lower() or "vm_tiny" in line.lower() for line in job.log)


def test_setup_failure_reports_pips_last_lines_and_leaves_no_stamp(tmp_path: Path) -> None:
    missing = tmp_path / "req.txt"
    missing.write_text("video-mocap-no-such-package==9.9.9\n")
    venv = tmp_path / "venv"
    job = setup_env.WorkerEnvSetup(_base_python(), venv, [setup_env.RequirementFile(missing)],
                                   pip_args=("--no-index", "--find-links", str(tmp_path)))
    assert job.run() == "failed"
    assert job.error.startswith("Installing req.txt failed (exit code 1)")
    assert "No matching distribution found for video-mocap-no-such-package==9.9.9" in job.error
    assert not setup_env.is_installed(venv)


def test_setup_missing_requirement_file_is_a_clear_error(tmp_path: Path) -> None:
    job = setup_env.WorkerEnvSetup(_base_python(), tmp_path / "venv",
                                   [setup_env.RequirementFile(tmp_path / "nope.txt")])
    with pytest.raises(setup_env.SetupError, match="nope.txt"):
        job.start()
    assert not (tmp_path / "venv").exists()


def test_setup_cancel_kills_the_running_step(tmp_path: Path) -> None:
    req = tmp_path / "req.txt"
    req.write_text("vm-tiny==0.1.0\n")
    job = setup_env.WorkerEnvSetup(_base_python(), tmp_path / "venv", [setup_env.RequirementFile(req)],
                                   pip_args=("--no-index",))
    job.start()
    process = job._process
    assert process is not None and job.poll()  # venv creation (ensurepip) takes seconds
    time.sleep(0.3)
    job.cancel()
    assert job.state == "cancelled" and not job.poll()
    assert process.poll() is not None  # the step's process is gone
    assert _live_group_members(process.pid) == []  # and so is everything it started
    assert not setup_env.is_installed(tmp_path / "venv")
