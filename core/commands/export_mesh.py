"""``python -m core export-mesh motion.npz -o OUT``: each person's posed mesh per frame.

The meshes are posed exactly as the Blender avatar is: forward kinematics and linear
blend skinning of the motion file's own ``avatar/*`` arrays and per-person rest
mesh/joints (no body-model files needed; for the official SMPL-X model this leaves out
its pose-corrective blend shapes, a few millimetres). Coordinates are metres in the
camera frame (OpenCV: x right, y down, z forward), or with ``--y-up`` in the OpenGL
camera frame (x right, y up, z toward the viewer) that most viewers expect.

Outputs (written with trimesh, each file atomically):

* ``--format obj`` / ``ply``: a folder OUT with ``person<ID>_frame<NNNNNN>.<ext>`` for
  every frame where the person is valid (NNNNNN = source frame number).
* ``--format glb``: one file OUT (.glb): a node per person and frame and a glTF
  animation that shows each node during its own frame (a "flipbook": scale keyed with
  STEP interpolation), so it plays in any glTF viewer and imports into Blender.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from addon.motion_file import MotionFile, MotionFileError, Person, load_motion
from core.atomic_file import write_atomic
from core.errors import InputError, OutputError
from core.progress import Progress

HELP = "write each person's posed mesh per frame (OBJ/PLY sequence or one animated GLB), camera frame"
FORMATS = ("obj", "ply", "glb")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("motion", help="motion file (.npz) from capture")
    parser.add_argument("-o", "--output", required=True,
                        help="folder for an OBJ/PLY sequence, or a .glb file")
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="obj, ply or glb (default: glb if OUT ends in .glb, else obj)")
    parser.add_argument("--frames", default=None, metavar="A:B",
                        help="source frames A (included) to B (excluded); either may be left out")
    parser.add_argument("--person", type=int, action="append", default=None, metavar="ID",
                        help="only the person with this track id (repeatable; default all)")
    parser.add_argument("--y-up", action="store_true",
                        help="OpenGL camera frame (y up, z toward the viewer) instead of OpenCV's")


def parse_frames(text: str | None) -> tuple[int | None, int | None]:
    """``"A:B"`` -> (A, B) with None for a missing side. InputError for anything else."""
    if text is None:
        return None, None
    parts = text.split(":")
    if len(parts) != 2:
        raise InputError(f"--frames must look like A:B (e.g. 10:50, :100, 20:), not {text!r}")
    try:
        start, end = (int(p) if p.strip() else None for p in parts)
    except ValueError as exc:
        raise InputError(f"--frames must hold whole frame numbers: {text!r}") from exc
    if start is not None and end is not None and end <= start:
        raise InputError(f"--frames {text}: the end must come after the start")
    return start, end


def posed_vertices(motion: MotionFile, person: Person, rows: np.ndarray) -> np.ndarray:
    """(len(rows), V, 3) float32 posed vertices of ``person`` at the given rows, camera frame."""
    from models import kinematics as kin

    avatar = motion.avatar
    local = person.local_axis_angles(avatar.hand_mean, motion.flat_hand_mean)[rows]
    _, transforms = kin.forward_kinematics_np(kin.axis_angle_to_matrix_np(local), person.rest_joints,
                                              avatar.parents.tolist(), person.transl[rows])
    return kin.linear_blend_skinning_np(person.rest_vertices, transforms, person.rest_joints,
                                        avatar.skin_indices, avatar.skin_weights).astype(np.float32)


def _write_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, lambda tmp: Path(tmp).write_bytes(data))


def _select(motion: MotionFile, frames: tuple[int | None, int | None],
            person_ids: list[int] | None) -> tuple[np.ndarray, list[Person]]:
    start, end = frames
    fi = motion.frame_index
    keep = np.ones(len(fi), bool)
    if start is not None:
        keep &= fi >= start
    if end is not None:
        keep &= fi < end
    rows = np.nonzero(keep)[0]
    if rows.size == 0:
        raise InputError(f"no frames in the range asked for "
                         f"(the file holds frames {int(fi[0])}..{int(fi[-1])})")
    people = list(motion.people)
    if person_ids:
        known = [p.track_id for p in people]
        missing = [i for i in person_ids if i not in known]
        if missing:
            raise InputError(f"no person with id {', '.join(map(str, missing))} (ids in the file: {known})")
        people = [p for p in people if p.track_id in person_ids]
    if not people:
        raise InputError("the motion file holds no people")
    if not any(p.valid[rows].any() for p in people):
        raise InputError("the selected people are not seen in the selected frames")
    return rows, people


def export_sequence(motion: MotionFile, rows: np.ndarray, people: list[Person], folder: Path, fmt: str,
                    y_up: bool, progress: Progress) -> list[Path]:
    """OBJ/PLY files, one per person and valid frame. Returns the paths written."""
    import trimesh

    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} is a file; for --format {fmt} the output is a folder")
    try:
        folder.mkdir(parents=False, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {folder}: {exc.strerror or exc}") from exc
    jobs = [(p, r) for p in people for r in rows if p.valid[r]]
    progress.stage("export", total=len(jobs))
    written: list[Path] = []
    for name, _, v in _posed_meshes(motion, rows, people, y_up):
        mesh = trimesh.Trimesh(vertices=v, faces=motion.avatar.faces, process=False)
        out = folder / f"{name}.{fmt}"
        data = mesh.export(file_type=fmt)
        _write_atomic(out, data.encode("utf-8") if isinstance(data, str) else data)
        written.append(out)
        progress.update(len(written))
    return written


def _posed_meshes(motion: MotionFile, rows: np.ndarray, people: list[Person],
                  y_up: bool) -> Iterator[tuple[str, int, np.ndarray]]:
    """(``person<ID>_frame<NNNNNN>``, row, (V,3) float32 vertices in metres) for each person and
    each of ``rows`` where the person is valid; posed 32 frames at a time. Vertices are in the
    camera frame, or with y and z flipped (y up, camera looking down -z) when ``y_up``."""
    for person in people:
        prow = np.array([r for r in rows if person.valid[r]], np.int64)
        for chunk in np.array_split(prow, max(1, int(np.ceil(len(prow) / 32)))):
            if chunk.size == 0:
                continue
            verts = posed_vertices(motion, person, chunk)
            if y_up:
                verts = verts * np.array([1.0, -1.0, -1.0], np.float32)
            for r, v in zip(chunk, verts):
                yield f"person{person.track_id}_frame{int(motion.frame_index[r]):06d}", int(r), v


def export_glb(motion: MotionFile, rows: np.ndarray, people: list[Person], path: Path, y_up: bool,
               progress: Progress) -> Path:
    """One GLB with a node per person and valid frame and a flipbook animation."""
    import trimesh
    from trimesh.exchange.gltf import export_glb as trimesh_export_glb

    if path.suffix.lower() != ".glb":
        raise OutputError(f"{path}: a GLB output file name must end in .glb")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: folder {path.parent} does not exist")
    jobs = [(p, r) for p in people for r in rows if p.valid[r]]
    progress.stage("export", total=len(jobs))
    fps = motion.fps
    t0 = motion.frame_index[rows[0]]
    times = (motion.frame_index - t0) / fps
    scene = trimesh.Scene()
    spans: dict[str, tuple[float, float | None]] = {}  # node name -> (shown at, hidden at)
    for done, (name, r, v) in enumerate(_posed_meshes(motion, rows, people, y_up), start=1):
        mesh = trimesh.Trimesh(vertices=v, faces=motion.avatar.faces, process=False)
        scene.add_geometry(mesh, node_name=name, geom_name=name)
        later = rows[rows > r]
        spans[name] = (float(times[r]), float(times[later[0]]) if later.size else None)
        progress.update(done)

    def add_animation(buffer_items: Any, tree: dict[str, Any]) -> None:
        _add_flipbook_animation(buffer_items, tree, spans)

    progress.stage("write", total=None, message=str(path))
    data = trimesh_export_glb(scene, include_normals=False, buffer_postprocessor=add_animation)
    _write_atomic(path, data)
    return path


def _add_flipbook_animation(buffer_items: Any, tree: dict[str, Any],
                            spans: dict[str, tuple[float, float | None]]) -> None:
    """Add one glTF animation: node ``name`` has scale 1 from ``shown`` until ``hidden`` and 0
    otherwise (STEP interpolation); nodes start hidden except those shown at time 0.

    Called by trimesh before it lays out the buffers: data appended to ``buffer_items``
    becomes the buffer view of the same index; accessors are still keyed in a dict.
    """
    accessors = tree["accessors"]
    nodes = tree["nodes"]
    index_of = {node.get("name"): i for i, node in enumerate(nodes)}

    def add(array: np.ndarray, kind: str) -> int:
        data = np.ascontiguousarray(array, dtype="<f4")
        key = f"flipbook_{len(buffer_items)}"
        padded = data.tobytes() + b"\x00" * (-data.nbytes % 4)
        buffer_items[key] = padded
        view = len(buffer_items) - 1
        accessor = {"bufferView": view, "byteOffset": 0, "componentType": 5126, "count": int(len(data)),
                    "type": kind}
        if kind == "SCALAR":
            accessor["min"], accessor["max"] = [float(data.min())], [float(data.max())]
        accessors[f"flipbook_acc_{len(accessors)}"] = accessor
        return len(accessors) - 1

    samplers, channels = [], []
    end_time = max([t for s in spans.values() for t in s if t is not None] + [0.0])
    for name, (shown, hidden) in spans.items():
        node = index_of[name]
        key_times, key_scales = [], []
        if shown > 0:
            key_times.append(0.0)
            key_scales.append(0.0)
        key_times.append(shown)
        key_scales.append(1.0)
        if hidden is not None:
            key_times.append(hidden)
            key_scales.append(0.0)
        elif shown < end_time:  # pragma: no cover - last rows end the clip
            key_times.append(end_time)
            key_scales.append(1.0)
        nodes[node]["scale"] = [key_scales[0]] * 3
        nodes[node].pop("matrix", None)
        inp = add(np.asarray(key_times), "SCALAR")
        out = add(np.repeat(np.asarray(key_scales)[:, None], 3, axis=1), "VEC3")
        samplers.append({"input": inp, "output": out, "interpolation": "STEP"})
        channels.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": "scale"}})
    tree["animations"] = [{"name": "motion", "samplers": samplers, "channels": channels}]


def run(args: argparse.Namespace, progress: Progress) -> int:
    try:
        motion = load_motion(args.motion)
    except MotionFileError as exc:
        raise InputError(str(exc)) from exc
    out = Path(args.output)
    fmt = args.format or ("glb" if out.suffix.lower() == ".glb" else "obj")
    rows, people = _select(motion, parse_frames(args.frames), args.person)
    if fmt == "glb":
        export_glb(motion, rows, people, out, args.y_up, progress)
        count = sum(int(p.valid[rows].sum()) for p in people)
        progress.done(output=str(out), meshes=count, format=fmt)
        if progress.mode != "json":
            print(json.dumps({"output": str(out), "meshes": count, "format": fmt}))
    else:
        written = export_sequence(motion, rows, people, out, fmt, args.y_up, progress)
        progress.done(output=str(out), meshes=len(written), format=fmt)
        if progress.mode != "json":
            print(json.dumps({"output": str(out), "meshes": len(written), "format": fmt}))
    return 0
