"""Generate the ground-truth samples into ``data/samples/<name>/``.

Usage (worker environment)::

    .venv/worker/bin/python -m samples.generate NAME [NAME ...] [--force]
    .venv/worker/bin/python -m samples.generate --all [--force]
    .venv/worker/bin/python -m samples.generate --list
    .venv/worker/bin/python -m samples.generate --calibration [--list]

``--calibration`` makes the calibration clips of :data:`samples.scenes.CALIBRATION_SCENES` (other
lenses, camera heights and motions) into ``.cache/calibration``: for tuning and checking an
estimator's constants on clips apart from the samples, which stay held out for evaluation
(``bench/bench_focal.py --samples .cache/calibration``).

Each sample folder holds:

* ``footage.mp4``: the rendered clip (mp4v, 30 fps, W x H of the scene);
* ``ground_truth.npz``: a motion file (``video-mocap-motion/1``, docs/formats.md) with
  the true camera and parameters and the mannequin-x ``avatar/*``, written by
  :func:`core.motion.write_motion`, plus ``p{i}/joints_cam`` (T,55,3) true joints in the
  OpenCV camera frame (metres; mannequin-x has no jaw/eyes: those rows are the rigid
  head children of :class:`models.body.MannequinBody`, not rendered, ignored by
  evaluation), ``camera_focal_mm``, ``camera_sensor_mm``,
  ``camera_world_from_cam`` (4,4: camera frame -> world, world y up, floor y = 0) and
  ``floor_plane_cam`` (4,: n, d with n.x + d = 0 in the camera frame, n pointing up);
* ``id_mask.npz``: ``id_mask`` (T,H,W) uint8, 0 background, i+1 where figure ``p{i}``
  is the visible surface (rendered flat, no anti-aliasing);
* ``sample.json``: name, description, generator version and timings.

A sample that is complete (all files, current generator version) is skipped unless
``--force``. Work happens in a hidden temporary folder next to the target that is
renamed into place at the end, so an interrupted run leaves nothing half-made.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from core.errors import Cancelled, InputError, MocapError, OutputError
from core.motion import CameraParams, PersonParams, body_motion, write_motion
from core.progress import Progress
from models.body import BodyModel, load_body_model, mannequin_rest_joints
from samples import pose as pz
from samples.scenes import CALIBRATION_SCENES, POST_SIZE, SCENES, Scene

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO / "data" / "samples"
CALIBRATION_ROOT = REPO / ".cache" / "calibration"
ALL_SCENES = {**SCENES, **CALIBRATION_SCENES}
BLENDER_PYTHON = REPO / ".venv" / "blender" / "bin" / "python"
GENERATOR_VERSION = 5
"""Bump when the output of any sample changes: older folders are then regenerated."""
FILES = ("footage.mp4", "ground_truth.npz", "id_mask.npz", "sample.json")
BACKGROUND = (0.24, 0.25, 0.27)
FLOOR_PALETTE = ((0.16, 0.16, 0.17), (0.45, 0.44, 0.42))
POST_COLOUR = (0.70, 0.62, 0.50)


def is_complete(folder: Path) -> bool:
    """True when ``folder`` holds every sample file written by the current generator version."""
    if not all((folder / f).is_file() for f in FILES):
        return False
    try:
        meta = json.loads((folder / "sample.json").read_text())
    except (OSError, ValueError):
        return False
    return meta.get("version") == GENERATOR_VERSION


def id_colour(i: int) -> np.ndarray:
    """(3,) 0/1 RGB whose bits (r=1, g=2, b=4) encode i + 1 (up to 7 figures)."""
    code = i + 1
    return np.array([code & 1, (code >> 1) & 1, (code >> 2) & 1], dtype=np.float32)


def decode_mask(bgr: np.ndarray) -> np.ndarray:
    """(H,W,3) uint8 BGR mask render -> (H,W) uint8 figure id + 1 (0 background)."""
    bits = bgr > 127
    return (bits[..., 2] * 1 + bits[..., 1] * 2 + bits[..., 0] * 4).astype(np.uint8)


def write_job(path: Path, scene: Scene, camera: pz.Camera, tracks: list[pz.FigureTrack]) -> None:
    """Write the render job read by :mod:`samples.render` (everything in the camera frame)."""
    floor_v, floor_f, floor_m = pz.floor_mesh(camera)
    if scene.posts:                               # part of the floor object, in their own colour
        post_v, post_f, post_m = pz.post_mesh(camera, scene.posts, POST_SIZE, len(FLOOR_PALETTE))
        floor_v, floor_f = np.concatenate([floor_v, post_v]), np.concatenate([floor_f, post_f + len(floor_v)])
        floor_m = np.concatenate([floor_m, post_m])
    arrays: dict[str, np.ndarray] = {
        "width": np.int64(scene.size[0]), "height": np.int64(scene.size[1]),
        "focal_mm": np.float64(camera.focal_mm), "sensor_mm": np.float64(camera.sensor_mm),
        "frames": np.int64(scene.frames), "background": np.asarray(BACKGROUND, np.float32),
        "num_figures": np.int64(len(tracks)),
        "floor/vertices": floor_v, "floor/faces": floor_f, "floor/material": floor_m,
        "floor/palette": np.asarray(FLOOR_PALETTE + ((POST_COLOUR,) if scene.posts else ()), np.float32),
    }
    for i, (fig, tr) in enumerate(zip(scene.figures, tracks, strict=True)):
        arrays.update({f"fig{i}/vertices": tr.vertices_cam, f"fig{i}/faces": tr.faces,
                       f"fig{i}/material": tr.material, f"fig{i}/palette": pz.palette(fig),
                       f"fig{i}/id_colour": id_colour(i)})
    np.savez(path, **arrays)


def run_render(job: Path, out: Path, progress: Progress, blender_python: Path, frames: int,
               label: str = "") -> None:
    """Run :mod:`samples.render` in the Blender environment, relaying its progress
    (stages ``render`` and ``mask``, prefixed with ``label``)."""
    if not blender_python.exists():
        raise InputError(f"Blender environment not found: {blender_python} "
                         "(create it with `make .venv/blender/.installed`)")
    cmd = [str(blender_python), "-m", "samples.render", str(job), str(out)]
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(out / "blender-user")}
    log: list[str] = []
    stage = ""
    with subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("{"):
                    try:
                        event = json.loads(line)
                    except ValueError:
                        event = {}
                    if event.get("event") == "progress":
                        if event["stage"] != stage:
                            stage = event["stage"]
                            progress.stage(f"{label}{stage}", total=frames)
                        progress.update(int(event["current"]))
                        continue
                log.append(line)
                del log[:-40]
            proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    if proc.returncode != 0:
        raise MocapError(f"rendering failed (exit {proc.returncode}):\n" + "".join(log[-20:]))


def encode(frames_dir: Path, path: Path, fps: float, size: tuple[int, int], count: int,
           progress: Progress, label: str = "") -> None:
    """PNG frames -> mp4 (mp4v), then check that OpenCV reads ``count`` frames back."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise OutputError(f"OpenCV cannot write mp4 video to {path}")
    progress.stage(f"{label}encode", total=count)
    try:
        for t in range(count):
            img = cv2.imread(str(frames_dir / f"{t:04d}.png"), cv2.IMREAD_COLOR)
            if img is None or (img.shape[1], img.shape[0]) != size:
                raise MocapError(f"rendered frame {t} missing or of the wrong size in {frames_dir}")
            writer.write(img)
            progress.update(t + 1)
    finally:
        writer.release()
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    if n != count:
        raise OutputError(f"{path}: OpenCV reads {n} frames back, expected {count}")


def read_masks(mask_dir: Path, count: int) -> np.ndarray:
    """(T,H,W) uint8 figure id + 1 per pixel from the flat mask renders."""
    out = []
    for t in range(count):
        img = cv2.imread(str(mask_dir / f"{t:04d}.png"), cv2.IMREAD_COLOR)
        if img is None:
            raise MocapError(f"mask frame {t} missing in {mask_dir}")
        out.append(decode_mask(img))
    return np.stack(out)


def ground_truth(scene: Scene, camera: pz.Camera, tracks: list[pz.FigureTrack],
                 body: BodyModel) -> dict[str, np.ndarray]:
    """The motion-file arrays of a sample (see the module docstring), assembled by
    :func:`core.motion.body_motion` with the mannequin-x avatar."""
    n = scene.frames
    people = [PersonParams(
        track_id=i, betas=tr.betas, global_orient=tr.global_orient, body_pose=tr.body_pose,
        left_hand_pose=tr.left_hand_pose, right_hand_pose=tr.right_hand_pose,
        jaw_pose=np.zeros((n, 3)), transl=tr.transl, valid=np.ones(n, bool), confidence=np.ones(n),
        extras={"joints_cam": tr.joints_cam.astype(np.float32)}) for i, tr in enumerate(tracks)]
    cam = CameraParams(focal_px=(camera.focal_px, camera.focal_px), center_px=tuple(camera.center_px),
                       focal_std_px=0.0, focal_source="user")
    extras = {"camera_focal_mm": np.float64(camera.focal_mm),
              "camera_sensor_mm": np.float64(camera.sensor_mm),
              "camera_world_from_cam": camera.world_from_cam, "floor_plane_cam": camera.floor_plane_cam()}
    return body_motion(people, body, fps=scene.fps, image_size=scene.size, frame_index=np.arange(n),
                       camera=cam, source="footage.mp4", extras=extras)


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _clean_stale(root: Path, name: str) -> None:
    """Remove temporary folders of earlier runs that were killed (their process is gone)."""
    for tmp in root.glob(f".{name}.*.tmp"):
        try:
            pid = int(tmp.name.split(".")[-2].split("-")[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:
            pass


def generate(name: str, root: Path = DEFAULT_ROOT, *, force: bool = False, progress: Progress | None = None,
             blender_python: Path = BLENDER_PYTHON) -> dict:
    """Generate one sample into ``root/name`` (skipped when complete unless ``force``).

    Returns the sample's metadata (what ``sample.json`` holds), with ``skipped`` True
    when nothing was done.
    """
    progress = progress or Progress("quiet")
    root = Path(root).resolve()
    if name not in ALL_SCENES:
        raise InputError(f"unknown sample {name!r}; known: {', '.join(ALL_SCENES)}")
    final = root / name
    if is_complete(final) and not force:
        meta = json.loads((final / "sample.json").read_text())
        return {**meta, "skipped": True}
    if not blender_python.exists():
        raise InputError(f"Blender environment not found: {blender_python} "
                         "(create it with `make .venv/blender/.installed`)")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {root}: {exc}") from exc
    _clean_stale(root, name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.{os.getpid()}-", suffix=".tmp", dir=root))
    tmp.chmod(0o755)
    try:
        t0, c0 = time.perf_counter(), _cpu_seconds()
        mean = pz.hand_mean()
        scene = ALL_SCENES[name](mean, mannequin_rest_joints)
        camera = pz.make_camera(scene.camera, scene.size)
        progress.stage(f"{name}: pose", total=len(scene.figures))
        tracks = []
        for i, fig in enumerate(scene.figures):
            if len(fig.motion) != scene.frames:
                raise MocapError(f"{name}: figure {i} has {len(fig.motion)} frames, scene {scene.frames}")
            tracks.append(pz.pose_figure(fig, camera, mean))
            progress.update(i + 1)
        work = tmp / "work"
        work.mkdir()
        write_job(work / "job.npz", scene, camera, tracks)
        t1 = time.perf_counter()
        run_render(work / "job.npz", work, progress, blender_python, scene.frames, label=f"{name}: ")
        t2 = time.perf_counter()
        encode(work / "frames", tmp / "footage.mp4", scene.fps, scene.size, scene.frames, progress,
               label=f"{name}: ")
        np.savez_compressed(tmp / "id_mask.npz", id_mask=read_masks(work / "mask", scene.frames),
                            person_ids=np.arange(len(tracks), dtype=np.int64))
        truth = ground_truth(scene, camera, tracks, load_body_model("mannequin-x"))
        write_motion(tmp / "ground_truth.npz", truth)
        shutil.rmtree(work)
        t3, c3 = time.perf_counter(), _cpu_seconds()
        meta = {"name": name, "description": scene.description, "version": GENERATOR_VERSION,
                "size": list(scene.size), "fps": scene.fps, "frames": scene.frames,
                "figures": len(tracks), "focal_mm": camera.focal_mm, "sensor_mm": camera.sensor_mm,
                "seconds": {"pose": round(t1 - t0, 2), "render": round(t2 - t1, 2),
                            "encode": round(t3 - t2, 2), "total": round(t3 - t0, 2),
                            "cpu_total": round(c3 - c0, 2)},
                "bytes": {f: (tmp / f).stat().st_size for f in FILES if (tmp / f).exists()}}
        (tmp / "sample.json").write_text(json.dumps(meta, indent=2) + "\n")
        _replace_dir(tmp, final, force)
        return {**meta, "skipped": False}
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _replace_dir(tmp: Path, final: Path, force: bool) -> None:
    """Move the finished ``tmp`` folder to ``final`` (replacing an old one)."""
    old = None
    if final.exists():
        if is_complete(final) and not force:       # someone else finished first
            shutil.rmtree(tmp)
            return
        old = final.with_name(f".{final.name}.{os.getpid()}-old.tmp")
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _on_sigterm(signum: int, frame: object) -> None:
    raise Cancelled("cancelled")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m samples.generate", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"samples to make: {', '.join(SCENES)} "
                        "(a calibration clip's name: into .cache/calibration)")
    parser.add_argument("--all", action="store_true", help="every sample")
    parser.add_argument("--calibration", action="store_true",
                        help="every calibration clip (held apart from the samples), into .cache/calibration")
    parser.add_argument("--force", action="store_true", help="regenerate samples that are already complete")
    parser.add_argument("--list", action="store_true", help="list the samples and exit")
    parser.add_argument("--root", type=Path, default=None,
                        help="output folder (default data/samples; .cache/calibration with --calibration)")
    parser.add_argument("--blender-python", type=Path, default=BLENDER_PYTHON,
                        help="interpreter with bpy (default .venv/blender/bin/python)")
    args = parser.parse_args(argv)
    progress = Progress("text")
    if args.list:
        for name, build in (CALIBRATION_SCENES if args.calibration else SCENES).items():
            print(f"{name:20s} {(build.__doc__ or '').strip().splitlines()[0]}")
        return 0
    names = list(SCENES) if args.all else list(CALIBRATION_SCENES) if args.calibration else args.names
    if not names:
        parser.error("name at least one sample, or --all, or --calibration")
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        for name in names:
            if name not in ALL_SCENES:
                raise InputError(f"unknown sample {name!r}; known: {', '.join(ALL_SCENES)}")
        total = 0.0
        for name in names:
            root = args.root or (CALIBRATION_ROOT if name in CALIBRATION_SCENES else DEFAULT_ROOT)
            meta = generate(name, root, force=args.force, progress=progress,
                            blender_python=args.blender_python)
            if meta["skipped"]:
                progress.info(f"{name}: up to date ({root / name})")
            else:
                total += meta["seconds"]["total"]
                progress.info(f"{name}: {meta['frames']} frames {meta['size'][0]}x{meta['size'][1]} in "
                              f"{meta['seconds']['total']:.1f} s (render {meta['seconds']['render']:.1f} s) "
                              f"-> {root / name}")
        if total:
            progress.info(f"generated in {total:.1f} s")
        return 0
    except KeyboardInterrupt:
        progress.error("cancelled", "Cancelled", Cancelled.exit_code)
        return Cancelled.exit_code
    except MocapError as exc:
        progress.error(str(exc), type(exc).__name__, exc.exit_code)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
