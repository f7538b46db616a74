"""``video_mocap.capture``: run the worker on the footage, then apply the motion file.

The operator is a thin modal shell around :class:`addon.job.WorkerJob`: a window timer
polls the job, the panel and status bar show its progress, Esc (or the panel's Cancel
button) ends the worker and leaves the scene untouched, worker errors are reported
with the worker's own message, and on success the result is applied as one step.
Without a window (``blender --background``, tests) the same job runs to completion
inside ``execute``.
"""

from __future__ import annotations

import os
import tempfile
import time

import bpy
from bpy.types import Context, Event, Operator

from .. import extension_root
from ..job import JobStatus, WorkerJob, worker_command
from ..preferences import ADDON_ID, WorkerPythonError, get_preferences, resolve_worker_python
from ..properties import box_problem, box_prompt, footage_file
from .apply import ApplyError, load_and_apply

TIMER_INTERVAL_S = 0.1

ACTIVE_JOB: WorkerJob | None = None
"""The running capture (one at a time); the panel reads its status."""
LAST_STATUS: JobStatus | None = None
"""Status of the last finished capture (the panel shows its error)."""


def capture_arguments(settings: bpy.types.PropertyGroup, footage: str, output: str, smplx_dir: str = "",
                      gender: str = "neutral", mano_dir: str = "") -> list[str]:
    """Arguments of ``python -m core capture`` for the scene's settings (``Scene.video_mocap``)
    and the body model: ``smplx_dir`` (the preferences' official SMPL-X folder, absolute; empty:
    mannequin-x) with its ``gender``; with ``settings.hands_only``, MANO hands from ``mano_dir``
    (the preferences' MANO folder, absolute) instead (people, hands, face and boxes do not apply).

    Raises ValueError for settings that cannot be used (an empty box, an empty range, Hands Only
    without a MANO folder).
    """
    if settings.hands_only and not mano_dir:
        raise ValueError("Hands Only needs the official MANO files: set MANO Models in the add-on's "
                         "preferences")
    args = [footage, "-o", output, "--smoothing", f"{settings.smoothing:g}"]
    if settings.use_frame_range:
        if settings.frame_end < settings.frame_start:
            raise ValueError(f"frame range {settings.frame_start}-{settings.frame_end} is empty")
        args += ["--start", str(settings.frame_start), "--end", str(settings.frame_end + 1)]
    if settings.focal_mode == "LENS":
        args += ["--focal-mm", f"{settings.focal_mm:g}", "--sensor-mm", f"{settings.sensor_mm:g}"]
    elif settings.focal_mode == "FOV":
        args += ["--fov-deg", f"{settings.fov_deg:g}"]
    if settings.mirrored:
        args.append("--mirrored")
    if settings.hands_only:  # people, hands, face and boxes do not apply
        return args + ["--hands-only", "--mano-dir", mano_dir]
    args += ["--max-people", str(settings.max_people)]
    if smplx_dir:
        args += ["--smplx-dir", smplx_dir, "--gender", gender]
    if not settings.use_hands:
        args.append("--no-hands")
    if not settings.use_face:
        args.append("--no-face")
    for box in settings.boxes:
        problem = box_problem(box)
        if problem:
            raise ValueError(problem)
        args += ["--person", box_prompt(box)]
    return args


def takes_dir() -> str:
    """Folder for motion files: the extension's user folder, else next to the .blend, else temp."""
    try:
        return bpy.utils.extension_path_user(ADDON_ID, path="takes", create=True)
    except ValueError:  # running from a source checkout, not as an installed extension
        pass
    base = os.path.dirname(bpy.data.filepath) if bpy.data.filepath else tempfile.gettempdir()
    folder = os.path.join(base, "video_mocap_takes")
    os.makedirs(folder, exist_ok=True)
    return folder


def new_take_path(footage: str) -> str:
    """A fresh motion-file path for this footage under :func:`takes_dir`."""
    stem = os.path.splitext(os.path.basename(footage.rstrip("/\\")))[0] or "take"
    return os.path.join(takes_dir(), f"{stem}_{time.strftime('%Y%m%d-%H%M%S')}.npz")


def body_model_preferences(context: Context) -> tuple[str, str]:
    """(absolute SMPL-X folder or "", gender) from the add-on preferences. The worker checks the
    folder and its files (a clear error, exit 3, before any detection)."""
    prefs = get_preferences(context)
    folder = prefs.smplx_dir.strip() if prefs is not None else ""
    if not folder:
        return "", "neutral"
    return os.path.abspath(bpy.path.abspath(folder)), prefs.smplx_gender


def mano_preference(context: Context) -> str:
    """The preferences' MANO folder, absolute, or "" (the worker checks its files: exit 3)."""
    prefs = get_preferences(context)
    folder = prefs.mano_dir.strip() if prefs is not None else ""
    return os.path.abspath(bpy.path.abspath(folder)) if folder else ""


def new_capture_job(context: Context) -> WorkerJob:
    """The worker job for the scene's settings; raises ValueError/WorkerPythonError with a message."""
    settings = context.scene.video_mocap
    footage = footage_file(settings)
    if not footage:
        raise ValueError("Choose the footage to capture (a file, or a Movie Clip)")
    if not os.path.exists(footage):
        raise ValueError(f"Footage not found: {footage}")
    python = resolve_worker_python(context)
    smplx_dir, gender = body_model_preferences(context)
    output = new_take_path(footage)
    argv = worker_command(python, "capture", capture_arguments(settings, footage, output, smplx_dir, gender,
                                                               mano_preference(context)))
    return WorkerJob(argv, cwd=extension_root(), log_path=os.path.splitext(output)[0] + ".log")


def _redraw_panels(context: Context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class VIDEOMOCAP_OT_capture(Operator):
    """Capture the people in the footage with the worker, then apply the result (Esc cancels)"""

    bl_idname = "video_mocap.capture"
    bl_label = "Capture"
    bl_options = {"REGISTER", "UNDO"}

    _timer = None
    _job: WorkerJob | None = None

    @classmethod
    def poll(cls, context: Context) -> bool:
        return ACTIVE_JOB is None or ACTIVE_JOB.finished

    def _start(self, context: Context) -> WorkerJob | None:
        global ACTIVE_JOB, LAST_STATUS
        try:
            job = new_capture_job(context)
            job.start()
        except (ValueError, WorkerPythonError, OSError) as exc:
            LAST_STATUS = JobStatus(state="failed", error=str(exc))
            self.report({"ERROR"}, str(exc))
            return None
        ACTIVE_JOB, LAST_STATUS = job, None
        return job

    def _finish(self, context: Context, job: WorkerJob) -> set[str]:
        global ACTIVE_JOB, LAST_STATUS
        status = job.status
        ACTIVE_JOB, LAST_STATUS = None, status
        if status.state == "cancelled":
            self.report({"WARNING"}, "Capture cancelled; the scene is unchanged")
            return {"CANCELLED"}
        if status.state != "succeeded":
            self.report({"ERROR"}, f"Capture failed: {status.error}")
            return {"CANCELLED"}
        context.scene.video_mocap.last_take = status.output
        try:
            footage = footage_file(context.scene.video_mocap) or None
            result = load_and_apply(context, status.output, footage=footage)
        except ApplyError as exc:
            status.state, status.error = "failed", str(exc)
            self.report({"ERROR"}, f"Capture finished but applying it failed: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, f"Captured {len(result.avatars)} avatar(s) into {result.collection.name} "
                              f"({status.output}); {result.lens_note}")
        return {"FINISHED"}

    def execute(self, context: Context) -> set[str]:
        """Headless: run the worker to completion here (no window, no timers)."""
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        job.wait()
        return self._finish(context, job)

    def invoke(self, context: Context, event: Event) -> set[str]:
        if context.window is None:
            return self.execute(context)
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        self._job = job
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_INTERVAL_S, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0.0, 1.0)
        return {"RUNNING_MODAL"}

    def modal(self, context: Context, event: Event) -> set[str]:
        job = self._job
        assert job is not None
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
        if event.type != "TIMER" and event.type != "ESC":
            return {"PASS_THROUGH"}
        status = job.poll()
        wm = context.window_manager
        if status.fraction is not None:
            wm.progress_update(status.fraction)
        context.workspace.status_text_set(f"Video Mocap: {status.text()}  (Esc to cancel)")
        _redraw_panels(context)
        if not job.finished:
            return {"RUNNING_MODAL"}
        self._cleanup(context)
        return self._finish(context, job)

    def cancel(self, context: Context) -> None:
        """Blender ends the operator (file load, quit): stop the worker."""
        global ACTIVE_JOB
        if self._job is not None and not self._job.finished:
            self._job.cancel()
            try:
                self._job.wait(timeout=self._job.kill_grace_s + 2.0)
            except TimeoutError:
                pass
        ACTIVE_JOB = None
        self._cleanup(context)

    def _cleanup(self, context: Context) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        _redraw_panels(context)


class VIDEOMOCAP_OT_cancel_capture(Operator):
    """Stop the running capture (the worker is ended, the scene is left as it is)"""

    bl_idname = "video_mocap.cancel_capture"
    bl_label = "Cancel Capture"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: Context) -> bool:
        return ACTIVE_JOB is not None and not ACTIVE_JOB.finished

    def execute(self, context: Context) -> set[str]:
        if ACTIVE_JOB is not None:
            ACTIVE_JOB.cancel()
        return {"FINISHED"}


class VIDEOMOCAP_OT_box_add(Operator):
    """Add a person the detectors missed: a box X0,Y0,X1,Y1 (pixels) on a source frame"""

    bl_idname = "video_mocap.box_add"
    bl_label = "Add Person Box"
    bl_options = {"REGISTER", "UNDO"}

    text: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Box", description="X0,Y0,X1,Y1@FRAME in pixels; empty: a new box to edit")

    def execute(self, context: Context) -> set[str]:
        from ..properties import parse_box

        settings = context.scene.video_mocap
        box = settings.boxes.add()
        if self.text:
            try:
                box.x0, box.y0, box.x1, box.y1, box.frame = parse_box(self.text)
            except ValueError as exc:
                settings.boxes.remove(len(settings.boxes) - 1)
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
        else:
            box.frame = max(0, context.scene.frame_current - 1)
        settings.active_box = len(settings.boxes) - 1
        return {"FINISHED"}


class VIDEOMOCAP_OT_box_remove(Operator):
    """Remove the selected person box"""

    bl_idname = "video_mocap.box_remove"
    bl_label = "Remove Person Box"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: Context) -> bool:
        return len(context.scene.video_mocap.boxes) > 0

    def execute(self, context: Context) -> set[str]:
        settings = context.scene.video_mocap
        index = min(max(settings.active_box, 0), len(settings.boxes) - 1)
        settings.boxes.remove(index)
        settings.active_box = max(0, index - 1)
        return {"FINISHED"}


CLASSES = (VIDEOMOCAP_OT_capture, VIDEOMOCAP_OT_cancel_capture, VIDEOMOCAP_OT_box_add,
           VIDEOMOCAP_OT_box_remove)
