"""Writing motion files (``video-mocap-motion/1``, docs/formats.md), atomically.

* :func:`write_motion` validates a dict of arrays with the one reader
  (:mod:`addon.motion_file`) and writes it atomically: a temporary file in the same
  folder, flushed and fsynced, then ``os.replace``. A failure (read-only folder, full
  disk, cancel) raises :class:`core.errors.OutputError` and leaves nothing behind.
* :func:`body_motion` / :func:`hand_motion` assemble that dict from per-person
  parameters and the body model used (rest joints, rest mesh and ``avatar/*``).

numpy only at import time (torch is only touched through the model passed in), so the
Blender-side tests can write motion files too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from addon.motion_file import FORMAT, MotionFile, MotionFileError, validate_motion
from core.atomic_file import write_atomic
from core.errors import OutputError

if TYPE_CHECKING:
    from models.body import BodyModel, HandModel

__all__ = ["FORMAT", "CameraParams", "HandParams", "PersonParams", "body_motion", "hand_motion",
           "write_motion", "MotionFileError"]


@dataclass
class CameraParams:
    """Intrinsics in pixels. ``focal_source``: estimated | prior | metadata | user."""

    focal_px: tuple[float, float]
    center_px: tuple[float, float]
    focal_std_px: float = 0.0
    focal_source: str = "estimated"


@dataclass
class PersonParams:
    """One person's SMPL-X parameters over T frames (axis-angle radians, metres, camera frame).

    betas (10,); global_orient (T,3); body_pose (T,21,3); left/right_hand_pose (T,15,3)
    offsets from the mean hand; jaw_pose (T,3); expression (T,10) or None (zeros);
    transl (T,3); valid (T,) bool; confidence (T,) 0..1; extras: more ``p{i}/`` arrays
    (e.g. ``joints_cam`` in ground-truth files).
    """

    track_id: int
    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    left_hand_pose: np.ndarray
    right_hand_pose: np.ndarray
    jaw_pose: np.ndarray
    transl: np.ndarray
    valid: np.ndarray
    confidence: np.ndarray
    expression: np.ndarray | None = None
    extras: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class HandParams:
    """One hand (hands-only files): side ``left``/``right``; global_orient (T,3) wrist,
    camera frame; hand_pose (T,15,3) offsets from the mean hand; transl (T,3); betas (10,)."""

    track_id: int
    side: str
    betas: np.ndarray
    global_orient: np.ndarray
    hand_pose: np.ndarray
    transl: np.ndarray
    valid: np.ndarray
    confidence: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)


def _header(fps: float, image_size: Sequence[int], frame_index: np.ndarray, camera: CameraParams,
            source: str, subject: str) -> dict[str, np.ndarray]:
    return {
        "format": np.asarray(FORMAT),
        "subject": np.asarray(subject),
        "source": np.asarray(str(source)),
        "fps": np.asarray(float(fps), np.float64),
        "image_size": np.asarray(image_size, np.int64).reshape(2),
        "frame_index": np.asarray(frame_index, np.int64).reshape(-1),
        "camera_focal_px": np.asarray(camera.focal_px, np.float64).reshape(2),
        "camera_center_px": np.asarray(camera.center_px, np.float64).reshape(2),
        "camera_focal_std_px": np.asarray(float(camera.focal_std_px), np.float64),
        "camera_focal_source": np.asarray(camera.focal_source),
        "flat_hand_mean": np.asarray(False),
    }


def _f32(a: Any, shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(a, np.float32).reshape(shape)


def body_motion(people: Sequence[PersonParams], body: BodyModel, *, fps: float, image_size: Sequence[int],
                frame_index: np.ndarray, camera: CameraParams, source: str = "",
                extras: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Assemble a ``subject = body`` motion dict (validate/write it with :func:`write_motion`).

    Rest joints/vertices per person come from ``body`` for that person's betas, and the
    ``avatar/*`` arrays from ``body.avatar_arrays()``. ``frame_index``: (T,) source frame of
    each row; ``image_size``: (W, H) pixels; ``fps``: frames per second of the footage.
    """
    data = _header(fps, image_size, frame_index, camera, source, "body")
    t = data["frame_index"].shape[0]
    data["person_ids"] = np.asarray([p.track_id for p in people], np.int64)
    for i, p in enumerate(people):
        betas = _f32(p.betas, (10,))
        expression = (np.zeros((t, 10), np.float32) if p.expression is None
                      else np.asarray(p.expression, np.float32))
        data.update({
            f"p{i}/valid": np.asarray(p.valid, bool).reshape(t),
            f"p{i}/confidence": _f32(p.confidence, (t,)),
            f"p{i}/betas": betas,
            f"p{i}/global_orient": _f32(p.global_orient, (t, 3)),
            f"p{i}/body_pose": _f32(p.body_pose, (t, 21, 3)),
            f"p{i}/left_hand_pose": _f32(p.left_hand_pose, (t, 15, 3)),
            f"p{i}/right_hand_pose": _f32(p.right_hand_pose, (t, 15, 3)),
            f"p{i}/jaw_pose": _f32(p.jaw_pose, (t, 3)),
            f"p{i}/expression": expression,
            f"p{i}/transl": _f32(p.transl, (t, 3)),
            f"p{i}/rest_joints": body.rest_joints_np(betas).astype(np.float32),
            f"p{i}/rest_vertices": body.rest_vertices(betas).astype(np.float32),
        })
        data.update({f"p{i}/{k}": np.asarray(v) for k, v in p.extras.items()})
    data.update(body.avatar_arrays())
    data.update({k: np.asarray(v) for k, v in (extras or {}).items()})
    return data


def hand_motion(hands: Sequence[HandParams], models: Mapping[str, HandModel], *, fps: float,
                image_size: Sequence[int], frame_index: np.ndarray, camera: CameraParams, source: str = "",
                extras: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Assemble a ``subject = hands`` (MANO) motion dict. ``models``: side -> HandModel; the
    avatar topology/skin is taken from the right hand if present (MANO's sides share it)
    and ``avatar/hand_mean`` holds left then right (zeros for a side not given)."""
    import torch

    if not models:
        raise ValueError("hand_motion needs at least one MANO model")
    data = _header(fps, image_size, frame_index, camera, source, "hands")
    t = data["frame_index"].shape[0]
    data["person_ids"] = np.asarray([h.track_id for h in hands], np.int64)
    for i, h in enumerate(hands):
        if h.side not in models:
            raise ValueError(f"no MANO model for the {h.side} hand")
        model = models[h.side]
        betas = _f32(h.betas, (10,))
        with torch.no_grad():
            rest = model.rest_joints(torch.as_tensor(betas[None], device=model.device))[0].cpu().numpy()
        data.update({
            f"p{i}/side": np.asarray(h.side),
            f"p{i}/valid": np.asarray(h.valid, bool).reshape(t),
            f"p{i}/confidence": _f32(h.confidence, (t,)),
            f"p{i}/betas": betas,
            f"p{i}/global_orient": _f32(h.global_orient, (t, 3)),
            f"p{i}/hand_pose": _f32(h.hand_pose, (t, 15, 3)),
            f"p{i}/transl": _f32(h.transl, (t, 3)),
            f"p{i}/rest_joints": rest.astype(np.float32),
            f"p{i}/rest_vertices": model.rest_vertices(betas).astype(np.float32),
        })
        data.update({f"p{i}/{k}": np.asarray(v) for k, v in h.extras.items()})
    reference = models.get("right") or models["left"]
    avatar = reference.avatar_arrays()
    mean = np.zeros((30, 3), np.float32)
    for side, rows in (("left", slice(0, 15)), ("right", slice(15, 30))):
        if side in models:
            mean[rows] = models[side].hand_mean.detach().cpu().numpy()
    avatar["avatar/hand_mean"] = mean
    data.update(avatar)
    data.update({k: np.asarray(v) for k, v in (extras or {}).items()})
    return data


def write_motion(path: str | os.PathLike[str], data: Mapping[str, np.ndarray]) -> MotionFile:
    """Validate ``data`` (see :func:`addon.motion_file.validate_motion`) and write it to ``path``
    atomically as a compressed ``.npz``. Returns the validated view.

    Raises MotionFileError (a ValueError) if ``data`` breaks the format (a programming
    error, nothing written) and OutputError if the file cannot be written (nothing left).
    """
    target = Path(path)
    arrays = {k: np.asarray(v) for k, v in data.items()}
    motion = validate_motion(arrays, path=str(target))
    write_npz_atomic(target, arrays)
    return motion


def write_npz_atomic(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
                     compressed: bool = True) -> None:
    """Write ``arrays`` to ``path`` (.npz) through a temporary file in the same folder and
    ``os.replace``. Raises OutputError (nothing partial left) when it cannot."""
    target = Path(path)
    if target.suffix != ".npz":
        raise OutputError(f"{target}: the output file name must end in .npz")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: folder {folder} does not exist")
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder")

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            (np.savez_compressed if compressed else np.savez)(f, **arrays)
            f.flush()
            os.fsync(f.fileno())

    write_atomic(target, write, suffix=".tmp.npz")
