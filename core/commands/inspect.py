"""``python -m core inspect FILE.npz``: a JSON summary of a motion or keypoints file."""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from addon.motion_file import MotionFile, MotionFileError, load_motion
from core.errors import InputError
from core.progress import Progress

HELP = "print a JSON summary of a motion or keypoints file (people, frames, fps, focal, valid ratio)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="motion file or keypoints file (.npz)")
    parser.add_argument("--compact", action="store_true", help="one line of JSON instead of indented")


def file_format(path: Path) -> str:
    """The ``format`` string of an .npz file ('' if it has none). InputError if unreadable."""
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise InputError(f"{path}: a single array, not a motion or keypoints file")
            return str(data["format"]) if "format" in data.files else ""
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: not a readable .npz file ({exc})") from exc


def _round(x: float, digits: int = 4) -> float:
    return float(round(float(x), digits))


def motion_summary(motion: MotionFile) -> dict[str, Any]:
    """JSON-ready summary of a motion file."""
    cam = motion.camera
    frames = motion.num_frames
    people = []
    for person in motion.people:
        valid = person.valid
        entry: dict[str, Any] = {
            "id": person.track_id,
            "index": person.index,
            "valid_ratio": _round(person.valid_ratio),
            "valid_frames": int(valid.sum()),
            "mean_confidence": _round(person.confidence[valid].mean()) if valid.any() else 0.0,
        }
        if valid.any():
            depth = person.transl[valid, 2] + person.rest_joints[0, 2]
            entry["median_depth_m"] = _round(np.median(depth), 3)
            first, last = np.nonzero(valid)[0][[0, -1]]
            entry["seen_frames"] = [int(motion.frame_index[first]), int(motion.frame_index[last])]
        rest = person.rest_vertices
        if rest.size:
            entry["height_m"] = _round(rest[:, 1].max() - rest[:, 1].min(), 3)
        if person.side is not None:
            entry["side"] = person.side
        people.append(entry)
    return {
        "file": motion.path,
        "kind": "motion",
        "format": motion.format,
        "subject": motion.subject,
        "source": motion.source,
        "frames": frames,
        "fps": _round(motion.fps, 3),
        "duration_s": _round((motion.frame_index[-1] - motion.frame_index[0] + 1) / motion.fps, 3),
        "frame_range": [int(motion.frame_index[0]), int(motion.frame_index[-1])],
        "image_size": [int(v) for v in cam.image_size],
        "camera": {
            "focal_px": [_round(v, 2) for v in cam.focal_px],
            "focal_std_px": _round(cam.focal_std_px, 2),
            "focal_source": cam.focal_source,
            "center_px": [_round(v, 2) for v in cam.center_px],
            "fov_x_deg": _round(cam.fov_x_deg, 2),
            "fov_y_deg": _round(cam.fov_y_deg, 2),
            "footage_mirrored": cam.mirrored,
        },
        "avatar": {"model": motion.avatar.model, "joints": motion.avatar.num_joints,
                   "vertices": motion.avatar.num_vertices, "faces": int(motion.avatar.faces.shape[0])},
        "expression": ("fitted to face landmarks" if str(motion.extras.get("expression_source", "none"))
                       == "face-landmarks" else "none (all zeros)"),
        "people": people,
        "extra_keys": sorted(motion.extras),
    }


def keypoints_summary(path: Path) -> dict[str, Any]:
    """JSON-ready summary of a keypoints file (``video-mocap-keypoints/1``)."""
    from core.keypoints_file import load_keypoints

    kp = load_keypoints(path)
    people = []
    for i, person in enumerate(kp.people):
        valid = np.asarray(person.valid, bool)
        entry: dict[str, Any] = {"id": int(person.id), "index": i,
                                 "valid_ratio": _round(valid.mean()) if valid.size else 0.0,
                                 "valid_frames": int(valid.sum())}
        if valid.any():
            entry["mean_body_confidence"] = _round(np.asarray(person.body_conf)[valid].mean())
            for side in ("left", "right"):
                seen = np.asarray(getattr(person, f"{side}_hand_conf")).max(axis=1) > 0
                entry[f"{side}_hand_ratio"] = _round(seen[valid].mean())
            entry["face_ratio"] = _round((np.asarray(person.face_conf) > 0)[valid].mean())
        people.append(entry)
    frames = kp.num_frames
    return {
        "file": str(path), "kind": "keypoints", "format": "video-mocap-keypoints/1", "source": kp.source,
        "frames": frames, "fps": _round(kp.fps, 3),
        "frame_range": [int(kp.frame_index[0]), int(kp.frame_index[-1])] if frames else [],
        "image_size": [int(v) for v in kp.image_size], "footage_mirrored": kp.mirrored,
        "footage_lens_35mm": kp.lens_35mm,
        "scene_focal_px": _round(kp.scene_focal[0], 1), "scene_focal_log_std": _round(kp.scene_focal[1], 3),
        "people": people,
    }


def summarize(path: Path) -> dict[str, Any]:
    """Summary of a motion or keypoints file; InputError for anything else."""
    fmt = file_format(path)
    if fmt.startswith("video-mocap-keypoints/"):
        return keypoints_summary(path)
    try:
        return motion_summary(load_motion(path))
    except MotionFileError as exc:
        raise InputError(str(exc)) from exc


def run(args: argparse.Namespace, progress: Progress) -> int:
    summary = summarize(Path(args.file))
    if progress.mode == "json":
        progress.done(output=None, summary=summary)
    else:
        sys.stdout.write(json.dumps(summary, indent=None if args.compact else 2) + "\n")
    return 0
