"""Footage -> detect -> fit -> motion file: the capture pipeline.

Stages reported to :class:`core.progress.Progress`: ``detect`` (frames), ``fit``
(people, twice: lift and place), ``write``. Input is footage, or a keypoints file
(``video-mocap-keypoints/1``) from ``python -m core detect``, which skips detection.
"""

from __future__ import annotations

import time
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.errors import InputError
from core.fit.body import ClipFit, FitOptions, fit_clip
from core.fit.focal import user_focal
from core.fit.observations import observations_from_keypoints
from core.keypoints_file import FORMAT as KEYPOINTS_FORMAT
from core.keypoints_file import Keypoints, load_keypoints
from core.progress import Progress
from models.body import BodyModel, load_body_model

if TYPE_CHECKING:
    from core.checkpoint import Checkpoints

@dataclass(frozen=True)
class UserCamera:
    """The user's lens: ``focal_mm`` with ``sensor_mm`` (default 36), or ``fov_deg``."""

    focal_mm: float | None = None
    sensor_mm: float | None = None
    fov_deg: float | None = None


@dataclass
class CaptureResult:
    """What a capture produced: the motion arrays, the fit, and seconds per stage."""

    arrays: dict[str, np.ndarray]
    fit: ClipFit
    keypoints: Keypoints
    seconds: dict[str, float]


def is_keypoints_file(path: str | Path) -> bool:
    """True if ``path`` is an ``.npz`` whose ``format`` is the keypoints format."""
    path = Path(path)
    if path.suffix.lower() != ".npz" or not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "format" in data.files and str(data["format"]) == KEYPOINTS_FORMAT
    except (OSError, ValueError, zipfile.BadZipFile):
        return False


def resolve_device(device: str) -> str:
    """``cpu``/``cuda``/``cuda:N`` -> a usable torch device string (InputError if CUDA is absent)."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available in the worker environment "
                         "(this torch build has no GPU support or no GPU was found); use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise InputError(f"--device must be cpu or cuda, got {device!r}")
    return device


def fit_keypoints(keypoints: Keypoints, options: FitOptions, progress: Progress,
                  model: BodyModel | None = None) -> tuple[dict[str, np.ndarray], ClipFit]:
    """Fit everyone in ``keypoints``; returns (motion arrays, fit)."""
    model = model or load_body_model("mannequin-x", device=options.device)
    arrays = keypoints.to_arrays()
    observations = [observations_from_keypoints(arrays, i) for i in range(len(keypoints.people))]
    progress.stage("fit", 2 * len(observations))
    clip = fit_clip(observations, tuple(int(v) for v in keypoints.image_size), float(keypoints.fps), model,
                    options, lambda done, msg: progress.update(done + 1, msg))
    focal = clip.focal
    progress.info(f"focal {focal.focal_px:.0f} px (+-{focal.std_px:.0f}, {focal.source})")
    return motion_arrays(clip, keypoints, model), clip


def motion_arrays(clip: ClipFit, keypoints: Keypoints, model: BodyModel) -> dict[str, np.ndarray]:
    """The ``video-mocap-motion/1`` arrays (docs/formats.md) of a fit."""
    from core.motion import CameraParams, PersonParams, body_motion

    f = clip.focal
    camera = CameraParams(focal_px=(f.focal_px, f.focal_px), center_px=tuple(float(c) for c in clip.center),
                          focal_std_px=f.std_px, focal_source=f.source)
    people = [PersonParams(track_id=p.track_id, betas=p.betas, global_orient=p.global_orient,
                           body_pose=p.body_pose, left_hand_pose=p.left_hand_pose,
                           right_hand_pose=p.right_hand_pose, jaw_pose=p.jaw_pose, transl=p.transl,
                           valid=p.valid, confidence=p.confidence, expression=p.expression)
              for p in clip.people]
    return body_motion(people, model, fps=float(keypoints.fps), image_size=keypoints.image_size,
                       frame_index=np.asarray(keypoints.frame_index), camera=camera,
                       source=str(keypoints.source))


def capture(source: str | Path, options: FitOptions, progress: Progress, detect_options: object = None,
            start: int = 0, end: int | None = None, stride: int = 1,
            model: BodyModel | None = None, camera: UserCamera | None = None,
            checkpoints: Checkpoints | None = None) -> CaptureResult:
    """Detect (unless ``source`` is a keypoints file) and fit.

    Args:
        source: footage (video, image, folder) or a keypoints ``.npz``.
        options: fit settings; detect_options: :class:`core.detect.DetectOptions` (None: defaults).
        start, end, stride: source frame range (footage only).
        camera: the user's lens (None: estimate the focal).
        checkpoints: save detection per chunk of frames and resume from saved chunks
            (core/checkpoint.py; footage only). None: detect in one piece.
    """
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if is_keypoints_file(source):
        keypoints = load_keypoints(source)
    else:
        from core.detect import DetectOptions, detect_keypoints
        from core.footage import open_footage

        detect_options = detect_options or DetectOptions(hands=options.hands, face=options.face)
        if checkpoints is not None:  # resumable detection, chunk by chunk (core/checkpoint.py)
            from core.checkpoint import detect_resumable

            keypoints = detect_resumable(source, detect_options, progress, checkpoints, start, end, stride)
        else:
            with open_footage(source, start=start, end=end, stride=stride) as footage:
                info = footage.info
                progress.info(f"{info.kind} {info.width}x{info.height} at {info.fps:g} fps")
                keypoints = detect_keypoints(footage, detect_options, progress)  # type: ignore[arg-type]
    seconds["detect"] = time.perf_counter() - t0
    if keypoints.num_frames == 0:
        raise InputError(f"{source}: no frames to fit")
    if not keypoints.people:
        raise InputError(f"{source}: nobody was found; point at a person with --person X0,Y0,X1,Y1@FRAME")
    if camera is not None:
        options = replace(options, focal=user_focal(float(keypoints.image_size[0]), camera.focal_mm,
                                                     camera.sensor_mm, camera.fov_deg))
    t0 = time.perf_counter()
    arrays, clip = fit_keypoints(keypoints, options, progress, model)
    seconds["fit"] = time.perf_counter() - t0
    return CaptureResult(arrays=arrays, fit=clip, keypoints=keypoints, seconds=seconds)


def write_result(result: CaptureResult, output: str | Path, progress: Progress) -> Path:
    """Write the motion file atomically (stage ``write``)."""
    from core.motion import write_motion

    progress.stage("write", 1)
    write_motion(output, result.arrays)
    progress.update(1)
    return Path(output)


__all__ = ["CaptureResult", "UserCamera", "capture", "fit_keypoints", "is_keypoints_file",
           "motion_arrays", "resolve_device", "write_result"]
