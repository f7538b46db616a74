"""Apply a motion file: rigs, keys, camera and footage in one collection per take.

:func:`apply_motion` is the whole job (the capture operator and ``addon.cli`` call it
too); ``video_mocap.apply`` is a thin operator around it. It is transactional: on any
error every datablock it created is removed and the scene settings it touched are put
back, so a failed apply leaves the scene exactly as it was (and the operator returns
CANCELLED, so no undo step is pushed). A successful apply is one undo step.

Frame mapping: motion row t is keyed at scene frame ``frame_index[t] + 1`` (source frame 0
is scene frame 1, where the footage clip starts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import bpy
import numpy as np
from bpy.props import StringProperty
from bpy.types import Context, Operator

from ..camera import Intrinsics, apply_render_settings, build_camera, lens_mm, lens_note, load_clip
from ..keys import Channel, write_channels
from ..motion_file import MotionFile, MotionFileError, load_motion
from ..progress import progress_bar
from ..properties import footage_file
from ..rig import Avatar, add_expression_shape_keys, build_avatar, pose_channels, pose_keys


class ApplyError(Exception):
    """The motion file cannot be applied; the message is for the user."""


@dataclass
class PersonTake:
    """One person (or one hand) of a motion file, ready to become a rig.

    Attributes:
        label: object name suffix (``P0``, ``Left Hand 1``...).
        joint_names: (J,) bone names; parents: (J,) ints; rest_joints: (J,3) metres, model frame.
        rest_vertices: (V,3) or None.
        global_orient, transl: (T,3) camera frame (axis-angle; metres).
        local_rotations: (T,J,3) axis-angle per joint (row 0 unused); fingers include the mean hand.
        valid: (T,) bool; confidence: (T,) 0..1.
        betas: (10,) shape, or None (hands-only files).
        expression: (T,E) expression coefficients, or None.
    """

    label: str
    joint_names: list[str]
    parents: np.ndarray
    rest_joints: np.ndarray
    rest_vertices: np.ndarray | None
    global_orient: np.ndarray
    transl: np.ndarray
    local_rotations: np.ndarray
    valid: np.ndarray
    confidence: np.ndarray
    betas: np.ndarray | None = None
    expression: np.ndarray | None = None


def people_from_motion(motion: MotionFile) -> list[PersonTake]:
    """Per-person rig inputs from a validated motion file (body or hands-only)."""
    avatar = motion.avatar
    names = list(avatar.joint_names)
    people = []
    for person in motion.people:
        if motion.subject == "hands":
            label = f"{(person.side or 'left').title()} Hand {person.track_id}"
        else:
            label = f"P{person.track_id}"
        local = person.local_axis_angles(avatar.hand_mean, motion.flat_hand_mean).astype(np.float64)
        people.append(PersonTake(label, names, np.asarray(avatar.parents, dtype=np.int64),
                                 np.asarray(person.rest_joints, dtype=np.float64),
                                 np.asarray(person.rest_vertices, dtype=np.float64),
                                 np.asarray(person.global_orient, dtype=np.float64),
                                 np.asarray(person.transl, dtype=np.float64), local,
                                 np.asarray(person.valid, dtype=bool),
                                 np.asarray(person.confidence, dtype=np.float64),
                                 None if person.betas is None else np.asarray(person.betas, np.float64),
                                 None if person.expression is None
                                 else np.asarray(person.expression, np.float64)))
    return people


def footage_fps(motion: MotionFile) -> float:
    """Frame rate of the footage: the rows' fps times the source-frame step between rows."""
    index = np.asarray(motion.frame_index).reshape(-1)
    step = float(np.median(np.diff(index))) if len(index) > 1 else 1.0
    return float(motion.fps) * max(step, 1.0)


def _find_footage(motion: MotionFile, motion_path: str | None) -> str:
    source = motion.source
    candidates = [source]
    if motion_path and source and not os.path.isabs(source):
        candidates.append(os.path.join(os.path.dirname(motion_path), source))
    return next((c for c in candidates if c and os.path.isfile(c)), "")


@dataclass
class TakeResult:
    """What :func:`apply_motion` made."""

    collection: bpy.types.Collection
    avatars: list[Avatar]
    camera: bpy.types.Object
    frame_range: tuple[int, int]
    clip: bpy.types.MovieClip | None = None
    lens_note: str = ""
    """The camera's lens and how sure it is (:func:`addon.camera.lens_note`), for the report."""


@dataclass
class _Transaction:
    """Datablocks created so far and scene settings before the apply (for the rollback)."""

    scene: bpy.types.Scene
    created: list[tuple[Any, Any]] = field(default_factory=list)
    saved: dict[str, Any] = field(default_factory=dict)

    SCENE_PATHS = ("frame_start", "frame_end", "frame_current", "camera", "render.fps", "render.fps_base",
                   "render.resolution_x", "render.resolution_y", "render.resolution_percentage",
                   "render.pixel_aspect_x", "render.pixel_aspect_y")

    def __post_init__(self) -> None:
        for path in self.SCENE_PATHS:
            owner, attr = self._resolve(path)
            self.saved[path] = getattr(owner, attr)

    def _resolve(self, path: str) -> tuple[Any, str]:
        owner: Any = self.scene
        *heads, attr = path.split(".")
        for head in heads:
            owner = getattr(owner, head)
        return owner, attr

    def add(self, collection: Any, block: Any) -> Any:
        self.created.append((collection, block))
        return block

    def rollback(self) -> None:
        for path, value in self.saved.items():
            owner, attr = self._resolve(path)
            setattr(owner, attr, value)
        for collection, block in reversed(self.created):
            try:
                name = block.name
            except ReferenceError:  # already gone with its owner (e.g. an object with its mesh)
                continue
            if collection.get(name) == block:
                collection.remove(block)


def apply_motion(context: Context, motion: MotionFile, *, name: str = "Take", footage: str | None = None,
                 motion_path: str | None = None, sensor_width_mm: float = 36.0) -> TakeResult:
    """Build one take in the current scene: per person an armature + skinned mesh with one
    action keyed at every frame, a camera matching the footage (its background), and the
    scene's frame range, resolution and frame rate.

    Args:
        context: Blender context (its scene and view layer receive the take).
        motion: the validated motion file (``addon.motion_file.load_motion``).
        name: take name (the collection's).
        footage: footage file for the camera background; default: the file's ``source`` when it exists.
        motion_path: where the motion file lies (to find a relative ``source``).
        sensor_width_mm: sensor width of the Blender camera.

    Raises:
        ApplyError: the file cannot be applied (the scene is left as it was).
    """
    scene = context.scene
    if context.mode != "OBJECT" and context.view_layer.objects.active is not None:
        bpy.ops.object.mode_set(mode="OBJECT")
    tx = _Transaction(scene)
    try:
        return _apply(context, motion, tx, name, footage, motion_path, sensor_width_mm)
    except Exception as exc:
        tx.rollback()
        if isinstance(exc, ApplyError):
            raise
        if isinstance(exc, (KeyError, ValueError, TypeError, RuntimeError, OSError, IndexError)):
            raise ApplyError(f"cannot apply the motion file: {type(exc).__name__}: {exc}") from exc
        raise


def _key_expression(avatar: Avatar, person: PersonTake, expression_dirs: np.ndarray, frames: np.ndarray,
                    tx: _Transaction, action_name: str) -> None:
    """Expression shape keys on the avatar's mesh (:func:`addon.rig.add_expression_shape_keys`),
    keyed with the person's (T,E) coefficients."""
    assert avatar.mesh is not None and person.expression is not None and person.rest_vertices is not None
    if expression_dirs.ndim != 3 or expression_dirs.shape[2] != person.expression.shape[1]:
        raise ApplyError(f"'avatar/expression_dirs' has shape {expression_dirs.shape}, expected "
                         f"(V, 3, {person.expression.shape[1]})")
    try:
        names = add_expression_shape_keys(avatar.mesh, person.rest_vertices, expression_dirs)
    except ValueError as exc:
        raise ApplyError(f"'avatar/expression_dirs': {exc}") from exc
    key = avatar.mesh.data.shape_keys
    action = tx.add(bpy.data.actions, bpy.data.actions.new(action_name))
    write_channels(key, frames, [Channel(f'key_blocks["{n}"].value', 0, person.expression[:, k], "Expression")
                                 for k, n in enumerate(names)], action=action)


def _apply(context: Context, motion: MotionFile, tx: _Transaction, name: str, footage: str | None,
           motion_path: str | None, sensor_width_mm: float) -> TakeResult:
    scene = context.scene
    people = people_from_motion(motion)
    frame_index = np.asarray(motion.frame_index).reshape(-1).astype(np.int64)
    frames = frame_index.astype(np.float64) + 1.0
    collection = tx.add(bpy.data.collections, bpy.data.collections.new(name))
    scene.collection.children.link(collection)
    faces, skin_i, skin_w = motion.avatar.faces, motion.avatar.skin_indices, motion.avatar.skin_weights
    avatars = []
    with progress_bar(context.window_manager, total=len(people) + 1) as bar:
        for k, person in enumerate(people):
            if len(person.global_orient) != len(frames):
                raise ApplyError(f"{person.label}: {len(person.global_orient)} rows for {len(frames)} frames")
            use_mesh = person.rest_vertices is not None and len(faces) > 0
            avatar = build_avatar(f"{name} {person.label}", collection, joint_names=person.joint_names,
                                  parents=person.parents, rest_joints=person.rest_joints,
                                  rest_vertices=person.rest_vertices if use_mesh else None,
                                  faces=faces, skin_indices=skin_i, skin_weights=skin_w)
            tx.add(bpy.data.objects, avatar.armature)
            tx.add(bpy.data.armatures, avatar.armature.data)
            if avatar.mesh is not None:
                tx.add(bpy.data.objects, avatar.mesh)
                tx.add(bpy.data.meshes, avatar.mesh.data)
            location, quats = pose_keys(avatar, person.global_orient, person.transl, person.local_rotations)
            arm = avatar.armature
            action = tx.add(bpy.data.actions, bpy.data.actions.new(f"{name} {person.label}"))
            write_channels(arm, frames, pose_channels(avatar, location, quats), action=action)
            arm["confidence"] = 0.0
            arm["valid"] = 0
            if person.betas is not None:  # shape, read back by the AMASS export
                arm["betas"] = [float(b) for b in person.betas]
            write_channels(arm, frames, [Channel('["confidence"]', 0, person.confidence, "Capture"),
                                         Channel('["valid"]', 0, person.valid.astype(np.float64), "Capture")],
                           action=action, interpolation="CONSTANT")
            expression_dirs = motion.extras.get("avatar/expression_dirs")  # official SMPL-X only
            if avatar.mesh is not None and expression_dirs is not None and person.expression is not None:
                _key_expression(avatar, person, expression_dirs, frames, tx, f"{name} {person.label} face")
            avatars.append(avatar)
            bar.update(k + 1)
        cam = motion.camera
        intr = Intrinsics(focal_px=(float(cam.focal_px[0]), float(cam.focal_px[1])),
                          center_px=(float(cam.center_px[0]), float(cam.center_px[1])),
                          image_size=(int(cam.image_size[0]), int(cam.image_size[1])),
                          fps=footage_fps(motion))
        footage_path = footage or _find_footage(motion, motion_path)
        clip = None
        if footage_path:
            known = set(bpy.data.movieclips)
            clip = load_clip(footage_path)
            if clip not in known:
                tx.add(bpy.data.movieclips, clip)
        camera = build_camera(f"{name} Camera", collection, intr, sensor_width_mm=sensor_width_mm, clip=clip,
                              mirrored=cam.mirrored)
        tx.add(bpy.data.objects, camera)
        tx.add(bpy.data.cameras, camera.data)
        # how sure the lens is stays with the camera (Object Data > Custom Properties)
        camera.data["focal_source"] = cam.focal_source
        camera.data["lens_std_mm"] = lens_mm(float(cam.focal_std_px), int(cam.image_size[0]), sensor_width_mm)
        note = lens_note(float(cam.focal_px[0]), float(cam.focal_std_px), cam.focal_source,
                         int(cam.image_size[0]), sensor_width_mm)
        apply_render_settings(scene, intr)
        scene.camera = camera
        if len(frames):
            scene.frame_start = int(frames[0])
            scene.frame_end = int(frames[-1])
            scene.frame_set(int(frames[0]))
        bar.update(len(people) + 1)
    first, last = (int(frames[0]), int(frames[-1])) if len(frames) else (scene.frame_start, scene.frame_end)
    return TakeResult(collection, avatars, camera, (first, last), clip, note)


def load_and_apply(context: Context, path: str, *, footage: str | None = None,
                   fallback_footage: str | None = None, name: str | None = None) -> TakeResult:
    """Read ``path`` through ``addon.motion_file`` and apply it (raises ApplyError for any problem).

    Footage for the background: ``footage``, else the file's ``source`` when it exists, else
    ``fallback_footage`` (the scene's footage setting) when it exists."""
    try:
        motion = load_motion(path)
    except MotionFileError as exc:
        raise ApplyError(str(exc)) from exc
    take = name or os.path.splitext(os.path.basename(path))[0]
    if not footage and not _find_footage(motion, path) and fallback_footage and os.path.isfile(fallback_footage):
        footage = fallback_footage
    return apply_motion(context, motion, name=take, footage=footage, motion_path=path)


class VIDEOMOCAP_OT_apply(Operator):
    """Build animated avatars and the camera from a motion file (.npz)"""

    bl_idname = "video_mocap.apply"
    bl_label = "Apply Motion File"
    bl_options = {"REGISTER", "UNDO"}

    filepath: StringProperty(name="Motion File", subtype="FILE_PATH")  # type: ignore[valid-type]
    filter_glob: StringProperty(default="*.npz", options={"HIDDEN"})  # type: ignore[valid-type]
    footage: StringProperty(name="Footage", subtype="FILE_PATH",  # type: ignore[valid-type]
                            description="Footage for the camera background (default: the file's source)")

    def invoke(self, context: Context, event: bpy.types.Event) -> set[str]:
        settings = context.scene.video_mocap
        if not self.filepath and settings.motion_path:
            self.filepath = bpy.path.abspath(settings.motion_path)
        if self.filepath:
            return self.execute(context)
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: Context) -> set[str]:
        path = bpy.path.abspath(self.filepath)
        if not path:
            self.report({"ERROR"}, "Choose a motion file (.npz) to apply")
            return {"CANCELLED"}
        footage = bpy.path.abspath(self.footage) if self.footage else None
        if footage and not os.path.isfile(footage):
            self.report({"ERROR"}, f"Footage not found: {footage}")
            return {"CANCELLED"}
        try:
            result = load_and_apply(context, path, footage=footage,
                                    fallback_footage=footage_file(context.scene.video_mocap))
        except ApplyError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Applied {os.path.basename(path)}: {len(result.avatars)} avatar(s), "
                              f"frames {result.frame_range[0]}-{result.frame_range[1]}; {result.lens_note}")
        return {"FINISHED"}


CLASSES = (VIDEOMOCAP_OT_apply,)
