"""Add-on preferences (worker interpreter, model folders) and the worker setup operator.

Paths that belong to the machine, not to a .blend, live here. Other modules use:

* :func:`get_preferences` -> the preferences or None (add-on not enabled by Blender),
* :func:`resolve_worker_python` -> the worker interpreter to start, or
  :class:`WorkerPythonError` with a message to show the user as it is,
* :data:`ADDON_ID` -> the extension's root package (``bl_ext.<repo>.video_mocap``;
  plain ``addon`` when loaded from a source checkout).

``video_mocap.setup_worker`` creates a venv and installs the worker requirements
(when Blender may go online); the work is done by ``setup_env.WorkerEnvSetup``.
"""

from __future__ import annotations

import os
import sys
import time

import bpy
from bpy.props import EnumProperty, StringProperty
from bpy.types import AddonPreferences, Context, Event, Operator

from . import extension_root, setup_env


def _root_package(package: str) -> str:
    """``bl_ext.<repo>.video_mocap.addon`` -> ``bl_ext.<repo>.video_mocap``; ``addon`` stays."""
    head, _, tail = package.rpartition(".")
    return head if head and tail == "addon" else package


ADDON_ID = _root_package(__package__ or "addon")
WORKER_VENV = "worker-venv"


class WorkerPythonError(RuntimeError):
    """No usable worker interpreter; the message tells the user what to do."""


def get_preferences(context: Context | None = None) -> "VIDEOMOCAP_AddonPreferences | None":
    """This add-on's preferences, or None when Blender has not enabled it as an add-on."""
    context = context or bpy.context
    addon = context.preferences.addons.get(ADDON_ID)
    return None if addon is None else addon.preferences


def default_venv_dir(create: bool = False) -> str:
    """Where the setup operator puts the worker venv (the extension's user folder)."""
    try:
        return bpy.utils.extension_path_user(ADDON_ID, path=WORKER_VENV, create=create)
    except ValueError:  # loaded from a source checkout, not as an extension
        path = os.path.join(bpy.utils.user_resource('EXTENSIONS'), ".user", "video_mocap_source", WORKER_VENV)
        if create:
            os.makedirs(path, exist_ok=True)
        return path


def _blender_interpreters() -> list[str]:
    """Executables that must never run the worker: Blender itself and its bundled Python."""
    return [path for path in (bpy.app.binary_path, sys.executable) if path]


def _same_file_name(path: str, others: list[str]) -> bool:
    """Path comparison without resolving symlinks: a venv's python links to its base
    interpreter, which must stay usable even when Blender's Python is a venv too."""
    return os.path.normcase(os.path.abspath(path)) in {os.path.normcase(os.path.abspath(o)) for o in others}


WORKER_MODULES = ("numpy", "cv2", "torch", "mediapipe")
"""Packages the worker cannot start without (looked up, not imported, by :func:`check_worker_python`)."""
_PROBE = ("import json, sys\n"
          "try:\n    from importlib.util import find_spec\n"
          "except ImportError:\n    find_spec = None\n"
          "missing = [m for m in %r if find_spec is None or find_spec(m) is None]\n"
          "print(json.dumps([list(sys.version_info[:2]), missing]))\n") % (WORKER_MODULES,)
_CHECKED: dict[tuple[str, int, int, bool], str] = {}


def check_worker_python(path: str, packages: bool = True, timeout: float = 30.0) -> None:
    """Run ``path`` once and check it is Python 3.11 (with the worker packages when ``packages``).

    Raises WorkerPythonError saying what was found and what to do. Results are cached per
    file (path, size, modification time), so panels may call this on every redraw.
    """
    stat = os.stat(path)
    key = (path, stat.st_mtime_ns, stat.st_size, packages)
    if key not in _CHECKED:
        _CHECKED[key] = _probe_worker_python(path, packages, timeout)
    if _CHECKED[key]:
        raise WorkerPythonError(_CHECKED[key])


def _probe_worker_python(path: str, packages: bool, timeout: float) -> str:
    """'' when usable, else the message for the user."""
    import json
    import subprocess

    wanted = ".".join(map(str, setup_env.REQUIRED_PYTHON))
    fix = "set 'Worker Python' in Preferences > Add-ons > Video Mocap, or run 'Set up worker environment'"
    try:
        result = subprocess.run([path, "-c", _PROBE], capture_output=True, text=True, timeout=timeout,
                                env=setup_env.clean_env(), stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return f"Worker interpreter {path} did not answer within {timeout:g} s; {fix}"
    except OSError as exc:
        return f"Worker interpreter {path} cannot be started ({exc.strerror or exc}): is it a program? {fix}"
    try:
        version, missing = json.loads(result.stdout.strip().splitlines()[-1])
        major, minor = int(version[0]), int(version[1])
    except (ValueError, IndexError, TypeError):
        return (f"Worker interpreter {path} is not a working Python {wanted} (it exited with code "
                f"{result.returncode} and did not report a Python version); {fix}")
    if (major, minor) != tuple(setup_env.REQUIRED_PYTHON):
        return f"Worker interpreter {path} is Python {major}.{minor}; the worker needs Python {wanted}. {fix}"
    if packages and missing:
        return (f"Worker interpreter {path} lacks the worker packages ({', '.join(missing)}); "
                f"run 'Set up worker environment', or install requirements/worker*.txt into it")
    return ""


def resolve_worker_python(context: Context | None = None) -> str:
    """The worker interpreter to start, as an absolute path.

    Order: the ``worker_python`` preference when set (it must exist and be Python 3.11 with
    the worker packages: :func:`check_worker_python`); else the venv
    made by "Set up worker environment" when its setup finished; else, in a source
    checkout, the project's ``.venv/worker``. Never Blender's own interpreter.
    Raises WorkerPythonError with what to do.
    """
    prefs = get_preferences(context)
    configured = prefs.worker_python.strip() if prefs is not None else ""
    banned = _blender_interpreters()
    if configured:
        path = os.path.abspath(bpy.path.abspath(configured))
        if not os.path.isfile(path):
            raise WorkerPythonError(f"Worker interpreter not found: {path}. Fix 'Worker Python' in "
                                    "Preferences > Add-ons > Video Mocap, or run 'Set up worker environment'")
        if not os.access(path, os.X_OK):
            raise WorkerPythonError(f"Worker interpreter is not executable: {path}")
        if _same_file_name(path, banned):
            raise WorkerPythonError(f"{path} is Blender's own Python; the worker needs its own Python 3.11 "
                                    "environment (run 'Set up worker environment')")
        check_worker_python(path)
        return path
    venv = default_venv_dir()
    if setup_env.is_installed(venv):
        return str(setup_env.venv_python(venv))
    checkout = setup_env.venv_python(os.path.join(extension_root(), ".venv", "worker"))
    if checkout.is_file() and not _same_file_name(str(checkout), banned):
        return str(checkout)
    raise WorkerPythonError("No worker interpreter set. In Preferences > Add-ons > Video Mocap, click "
                            "'Set up worker environment' or set 'Worker Python' to a Python 3.11 with the "
                            "worker requirements installed")


def new_setup(context: Context | None = None, pip_args: tuple[str, ...] = (),
              create: bool = True) -> setup_env.WorkerEnvSetup:
    """The setup job for the current preferences (raises setup_env.SetupError without a base Python).

    ``create`` makes the venv's folder in the extension's user folder.
    """
    prefs = get_preferences(context)
    configured = bpy.path.abspath(prefs.base_python.strip()) if prefs is not None and prefs.base_python else ""
    base = setup_env.find_base_python(configured, forbidden=_blender_interpreters())
    requirements = setup_env.worker_requirement_files(os.path.join(extension_root(), "requirements"))
    return setup_env.WorkerEnvSetup(base, default_venv_dir(create=create), requirements, pip_args)


def offline_instructions(commands: list[str]) -> str:
    """What to tell the user when Blender may not go online."""
    lines = ["Online access is disabled, so the worker packages cannot be installed from here.",
             "Either enable it (Preferences > System > Network > Allow Online Access) and run "
             "'Set up worker environment' again, or run these commands yourself and set 'Worker Python' "
             "to the venv's python:"]
    return "\n".join(lines + [f"  {command}" for command in commands])


def _manual_commands(context: Context) -> list[str]:
    """The setup commands with the detected base Python, or a placeholder if there is none."""
    try:
        return new_setup(context, create=False).commands()
    except setup_env.SetupError:
        requirements = setup_env.worker_requirement_files(os.path.join(extension_root(), "requirements"))
        return setup_env.WorkerEnvSetup("python3.11", default_venv_dir(), requirements).commands()


class VIDEOMOCAP_OT_setup_worker(Operator):
    """Create a Python 3.11 virtual environment and install the worker's packages into it"""

    bl_idname = "video_mocap.setup_worker"
    bl_label = "Set up worker environment"
    bl_options = {'REGISTER'}

    _job: setup_env.WorkerEnvSetup | None = None
    _timer = None

    def _prepare(self, context: Context) -> setup_env.WorkerEnvSetup | None:
        if not bpy.app.online_access:
            message = offline_instructions(_manual_commands(context))
            self.report({'ERROR'}, message)
            return None
        try:
            job = new_setup(context)
            job.start()
        except setup_env.SetupError as exc:
            self.report({'ERROR'}, str(exc))
            return None
        return job

    def _finish(self, context: Context, job: setup_env.WorkerEnvSetup) -> set[str]:
        if job.state == "done":
            prefs = get_preferences(context)
            if prefs is not None:
                prefs.worker_python = str(job.python)
            self.report({'INFO'}, f"Worker environment ready: {job.python}")
            return {'FINISHED'}
        if job.state == "cancelled":
            self.report({'WARNING'}, "Worker setup cancelled; the environment is incomplete")
            return {'CANCELLED'}
        self.report({'ERROR'}, job.error or f"Worker setup {job.state}")
        return {'CANCELLED'}

    def execute(self, context: Context) -> set[str]:
        """Blocking variant (scripts, background mode)."""
        job = self._prepare(context)
        if job is None:
            return {'CANCELLED'}
        while job.poll():
            time.sleep(0.2)
        return self._finish(context, job)

    def invoke(self, context: Context, event: Event) -> set[str]:
        job = self._prepare(context)
        if job is None:
            return {'CANCELLED'}
        self._job = job
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def modal(self, context: Context, event: Event) -> set[str]:
        job = self._job
        assert job is not None
        if event.type == 'ESC':
            job.cancel()
        elif event.type != 'TIMER':
            return {'PASS_THROUGH'}
        running = job.poll()
        context.window_manager.progress_update(int(100 * job.progress))
        _status_text(context, f"Video Mocap: {job.status} (Esc to cancel)" if running else None)
        for area in context.screen.areas if context.screen else ():
            if area.type == 'PREFERENCES':
                area.tag_redraw()
        if running:
            return {'RUNNING_MODAL'}
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        return self._finish(context, job)


def _status_text(context: Context, text: str | None) -> None:
    workspace = getattr(context, "workspace", None)
    if workspace is not None:
        workspace.status_text_set(text)


class VIDEOMOCAP_AddonPreferences(AddonPreferences):
    bl_idname = ADDON_ID

    worker_python: StringProperty(
        name="Worker Python",
        description="Python 3.11 interpreter of the worker environment (torch, mediapipe, ...). "
                    "Empty: the environment made by 'Set up worker environment'",
        subtype='FILE_PATH',
    )
    base_python: StringProperty(
        name="Base Python",
        description="Python 3.11 used to create the worker environment. Empty: python3.11 on PATH",
        subtype='FILE_PATH',
    )
    smplx_dir: StringProperty(
        name="SMPL-X Models",
        description="Optional folder with the official SMPL-X model files (SMPLX_NEUTRAL.npz ...; "
                    "registration at smpl-x.is.tue.mpg.de; never bundled). Set: captures fit SMPL-X itself, "
                    "with facial expression. Empty: the mannequin-x body",
        subtype='DIR_PATH',
    )
    smplx_gender: EnumProperty(
        name="SMPL-X Gender",
        description="Which SMPL-X model of the folder captures use",
        items=[("neutral", "Neutral", "SMPLX_NEUTRAL"), ("male", "Male", "SMPLX_MALE"),
               ("female", "Female", "SMPLX_FEMALE")],
        default="neutral",
    )
    mano_dir: StringProperty(
        name="MANO Models",
        description="Optional folder with the official MANO model files (registration at mano.is.tue.mpg.de; "
                    "never bundled). Used by Capture with Hands Only (footage of hands alone); whole-body "
                    "captures use SMPL-X hands",
        subtype='DIR_PATH',
    )

    def draw(self, context: Context) -> None:
        layout = self.layout
        box = layout.box()
        box.label(text="Worker", icon='CONSOLE')
        box.prop(self, "worker_python")
        try:
            box.label(text=f"Using: {resolve_worker_python(context)}", icon='CHECKMARK')
        except WorkerPythonError as exc:
            box.label(text=str(exc).split(". ")[0], icon='ERROR')
        row = box.row()
        row.prop(self, "base_python")
        box.operator(VIDEOMOCAP_OT_setup_worker.bl_idname, icon='IMPORT')
        if not bpy.app.online_access:
            box.label(text="Online access is off (Preferences > System): setup lists the commands to run "
                           "by hand", icon='INFO')
        box = layout.box()
        box.label(text="Official body models (optional, non-commercial licence)", icon='ARMATURE_DATA')
        box.prop(self, "smplx_dir")
        row = box.row()
        row.enabled = bool(self.smplx_dir.strip())
        row.prop(self, "smplx_gender")
        box.prop(self, "mano_dir")


CLASSES = (VIDEOMOCAP_OT_setup_worker, VIDEOMOCAP_AddonPreferences)

register, unregister = bpy.utils.register_classes_factory(CLASSES)  # in order; unregistered in reverse
