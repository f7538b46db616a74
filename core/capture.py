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
from core.fit.focal import METADATA_LOG_STD, LensPrior, user_focal
from core.fit.observations import PersonObservations, observations_from_keypoints
from core.horizon import row_at
from core.keypoints_file import FORMAT as KEYPOINTS_FORMAT
from core.keypoints_file import Keypoints, load_keypoints
from core.lens_metadata import focal_px_from_35mm
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


def load_capture_model(smplx_dir: str | None, gender: str, device: str, progress: Progress) -> BodyModel:
    """The body model to fit: official SMPL-X from ``smplx_dir`` (``SMPLX_<GENDER>.npz``/``.pkl``,
    in it or in its ``smplx/`` subfolder) when given, else the bundled mannequin-x.

    Raises ModelFileError (exit 3) for a missing folder, no model file, or an unreadable/wrong file.
    """
    if not smplx_dir:
        return load_body_model("mannequin-x", device=device)
    progress.info(f"loading the official SMPL-X model ({gender}) from {smplx_dir}")
    model = load_body_model("smplx", smplx_dir, device=device, gender=gender)
    progress.info(f"body model: official SMPL-X, {gender} ({getattr(model, 'source', smplx_dir)})")
    return model


def fit_keypoints(keypoints: Keypoints, options: FitOptions, progress: Progress,
                  model: BodyModel | None = None) -> tuple[dict[str, np.ndarray], ClipFit]:
    """Fit everyone in ``keypoints``; returns (motion arrays, fit).

    With a body model that has an expression basis (official SMPL-X) and ``options.face``,
    expression and jaw are then fitted to the face-mesh landmarks (stage ``face``).
    """
    model = model or load_body_model("mannequin-x", device=options.device)
    if options.focal is None and options.scene is None:
        options = replace(options, scene=scene_lens(keypoints.scene_focal, progress))
    arrays = keypoints.to_arrays()
    observations = [observations_from_keypoints(arrays, i) for i in range(len(keypoints.people))]
    progress.stage("fit", 2 * len(observations))
    clip = fit_clip(observations, tuple(int(v) for v in keypoints.image_size), float(keypoints.fps), model,
                    options, lambda done, msg: progress.update(done + 1, msg), keypoints.horizon)
    focal = clip.focal
    if keypoints.horizon.any() and focal.source != "user":
        row = row_at(keypoints.horizon, keypoints.image_size[0] / 2)
        progress.info(f"people stood upright on the scene's horizon (row {row:.0f} px) for the focal estimate"
                      if focal.upright else
                      f"the scene's horizon (row {row:.0f} px) is not used: the people do not stand on it")
    if options.scene is not None and focal.source != "user" and not focal.scene:
        progress.info("the scene's lines are not used for the focal: they disagree with the people's "
                      "perspective (they may not be at right angles)")
    progress.info(f"focal {focal.focal_px:.0f} px (+-{focal.std_px:.0f}, {focal.source})")
    source = expression_source(model, options)
    seen = fit_faces(clip, observations, model, options, float(keypoints.fps), progress) \
        if source == "face-landmarks" else None
    return motion_arrays(clip, keypoints, model, source, seen), clip


def metadata_lens(focal_35mm: float | None, image_size: tuple[int, int] | np.ndarray,
                  progress: Progress) -> LensPrior | None:
    """The focal prior of the lens the footage's metadata states (35 mm equivalent, mm;
    core/lens_metadata.py), or None where it states none (None or 0)."""
    if not focal_35mm:
        return None
    width, height = (int(v) for v in image_size)
    focal_px = focal_px_from_35mm(focal_35mm, width, height)
    progress.info(f"the footage's metadata gives its lens: {focal_35mm:g} mm (35 mm equivalent) = "
                  f"{focal_px:.0f} px (+-{METADATA_LOG_STD:.0%})")
    return LensPrior(focal_px, METADATA_LOG_STD, "metadata")


def scene_lens(scene_focal: np.ndarray, progress: Progress) -> LensPrior | None:
    """The focal the scene's lines at right angles give (a keypoints file's ``scene_focal``: px and
    1-sigma in log focal; :mod:`core.scene_focal`), or None where they gave none (zeros)."""
    focal_px, log_std = (float(v) for v in np.asarray(scene_focal, np.float64).reshape(2))
    if focal_px <= 0:
        return None
    progress.info(f"the scene's lines, taken at right angles, give focal {focal_px:.0f} px (+-{log_std:.0%})")
    return LensPrior(focal_px, log_std, "scene")


def expression_source(model: BodyModel, options: FitOptions) -> str:
    """``face-landmarks`` when expression is fitted, else ``none`` (the motion file's
    ``expression_source``): the model has no expression basis (mannequin-x) or --no-face."""
    return "face-landmarks" if options.face and model.num_expression > 0 else "none"


def fit_faces(clip: ClipFit, observations: list[PersonObservations], model: BodyModel, options: FitOptions,
              fps: float, progress: Progress) -> dict[int, np.ndarray]:
    """Expression and jaw of everyone from their face-mesh landmarks (in place; stage ``face``).

    Returns track id -> (T,) bool: the frames whose face landmarks were used."""
    from core.fit.face import fit_expression

    progress.stage("face", len(clip.people))
    by_track = {obs.track_id: obs for obs in observations}
    seen: dict[int, np.ndarray] = {}
    for i, person in enumerate(clip.people):
        obs = by_track.get(person.track_id)
        seen[person.track_id] = np.zeros(len(person.valid), bool)
        if obs is None or obs.face_2d is None:
            progress.update(i + 1, f"person {person.track_id}: no face landmarks (expression stays neutral)")
            continue
        face = fit_expression(model, person.betas, person.global_orient, person.body_pose,
                              person.left_hand_pose, person.right_hand_pose, person.jaw_pose, person.transl,
                              obs.face_2d, obs.face_conf, clip.focal.focal_px, clip.center,
                              smoothing=options.smoothing, fps=fps)
        person.expression, person.jaw_pose = face.expression, face.jaw_pose
        seen[person.track_id] = face.seen
        if not face.frames:
            progress.update(i + 1, f"person {person.track_id}: no usable face landmarks (expression stays "
                                   f"neutral)")
            continue
        progress.update(i + 1, f"person {person.track_id}: expression from {face.frames} frames of face "
                               f"landmarks (error {face.residual_before:.3f} -> {face.residual_after:.3f} "
                               f"eye-corner distances)")
    return seen


def motion_arrays(clip: ClipFit, keypoints: Keypoints, model: BodyModel, expression: str = "none",
                  expression_seen: dict[int, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The ``video-mocap-motion/1`` arrays (docs/formats.md) of a fit; ``expression``: how the
    expression coefficients were obtained (``expression_source``); ``expression_seen``: track id
    -> (T,) bool frames whose face landmarks were used (``p{i}/expression_valid``)."""
    from core.motion import CameraParams, PersonParams, body_motion

    f = clip.focal
    camera = CameraParams(focal_px=(f.focal_px, f.focal_px), center_px=tuple(float(c) for c in clip.center),
                          focal_std_px=f.std_px, focal_source=f.source)
    people = [PersonParams(track_id=p.track_id, betas=p.betas, global_orient=p.global_orient,
                           body_pose=p.body_pose, left_hand_pose=p.left_hand_pose,
                           right_hand_pose=p.right_hand_pose, jaw_pose=p.jaw_pose, transl=p.transl,
                           valid=p.valid, confidence=p.confidence, expression=p.expression,
                           extras={} if expression_seen is None or p.track_id not in expression_seen
                           else {"expression_valid": np.asarray(expression_seen[p.track_id], bool)})
              for p in clip.people]
    return body_motion(people, model, fps=float(keypoints.fps), image_size=keypoints.image_size,
                       frame_index=np.asarray(keypoints.frame_index), camera=camera,
                       source=str(keypoints.source),
                       extras={"expression_source": np.asarray(expression),
                               "footage_mirrored": np.asarray(bool(keypoints.mirrored))})


def capture(source: str | Path, options: FitOptions, progress: Progress, detect_options: object = None,
            start: int = 0, end: int | None = None, stride: int = 1,
            model: BodyModel | None = None, camera: UserCamera | None = None,
            checkpoints: Checkpoints | None = None, mirror: bool = False) -> CaptureResult:
    """Detect (unless ``source`` is a keypoints file) and fit.

    Args:
        source: footage (video, image, folder) or a keypoints ``.npz``.
        options: fit settings; detect_options: :class:`core.detect.DetectOptions` (None: defaults).
        start, end, stride: source frame range (footage only).
        camera: the user's lens (None: estimate the focal).
        checkpoints: save detection per chunk of frames and resume from saved chunks
            (core/checkpoint.py; footage only). None: detect in one piece.
        mirror: the footage is a mirror image: flip its frames back before detection (a keypoints
            file says itself whether it was; asking for it on one that was not is an InputError).
    """
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if is_keypoints_file(source):
        keypoints = load_keypoints(source)
        if mirror and not keypoints.mirrored:
            raise InputError(f"{source} was detected from the footage as it is: --mirrored flips the "
                             "footage before detection, so run detect (or capture the footage) with it")
    else:
        from core.detect import DetectOptions, detect_keypoints
        from core.footage import open_footage

        detect_options = detect_options or DetectOptions(hands=options.hands, face=options.face)
        if checkpoints is not None:  # resumable detection, chunk by chunk (core/checkpoint.py)
            from core.checkpoint import detect_resumable

            keypoints = detect_resumable(source, detect_options, progress, checkpoints, start, end, stride,
                                         mirror)
        else:
            with open_footage(source, start=start, end=end, stride=stride, mirror=mirror) as footage:
                progress.info(footage.summary)
                keypoints = detect_keypoints(footage, detect_options, progress)  # type: ignore[arg-type]
    seconds["detect"] = time.perf_counter() - t0
    if keypoints.num_frames == 0:
        raise InputError(f"{source}: no frames to fit")
    if not keypoints.people:
        raise InputError(f"{source}: nobody was found; point at a person with --person X0,Y0,X1,Y1@FRAME")
    if camera is not None:
        options = replace(options, focal=user_focal(float(keypoints.image_size[0]), camera.focal_mm,
                                                     camera.sensor_mm, camera.fov_deg))
    elif options.focal is None and options.lens is None:
        options = replace(options, lens=metadata_lens(keypoints.lens_35mm, keypoints.image_size, progress))
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


__all__ = ["CaptureResult", "UserCamera", "capture", "expression_source", "fit_faces", "fit_keypoints",
           "is_keypoints_file", "load_capture_model", "motion_arrays", "resolve_device", "write_result"]
