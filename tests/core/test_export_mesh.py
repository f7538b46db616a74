"""``python -m core export-mesh``: posed meshes re-loaded with trimesh match the body model."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from core.commands.export_mesh import parse_frames
from core.errors import InputError
from core.motion import CameraParams, PersonParams, body_motion, write_motion
from models.body import load_body_model

REPO = Path(__file__).resolve().parents[2]
T = 4


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", "--progress", "json", "export-mesh", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def body():
    return load_body_model("mannequin-x")


@pytest.fixture(scope="module")
def scene(body, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[PersonParams], Path]:
    rng = np.random.default_rng(0)
    people = []
    for track_id, valid in ((3, [True, True, False, True]), (11, [False, True, True, True])):
        people.append(PersonParams(
            track_id=track_id, betas=rng.normal(0, 1, 10), global_orient=np.tile([np.pi, 0, 0], (T, 1)) + rng.normal(0, 0.1, (T, 3)),
            body_pose=rng.normal(0, 0.3, (T, 21, 3)), left_hand_pose=rng.normal(0, 0.2, (T, 15, 3)),
            right_hand_pose=rng.normal(0, 0.2, (T, 15, 3)), jaw_pose=np.zeros((T, 3)),
            transl=np.tile([track_id / 10 - 0.7, 0.2, 3.0], (T, 1)) + rng.normal(0, 0.05, (T, 3)),
            valid=np.array(valid), confidence=np.ones(T)))
    folder = tmp_path_factory.mktemp("export")
    path = folder / "motion.npz"
    write_motion(path, body_motion(people, body, fps=25.0, image_size=(640, 480), frame_index=np.arange(T) + 50,
                                   camera=CameraParams((700.0, 700.0), (320.0, 240.0))))
    return path, people, folder


def _expected(body, person: PersonParams, row: int) -> np.ndarray:
    def t(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(a, np.float32)[row:row + 1])

    out = body(torch.as_tensor(np.asarray(person.betas, np.float32))[None], t(person.global_orient),
               t(person.body_pose), t(person.left_hand_pose), t(person.right_hand_pose), t(person.jaw_pose),
               t(person.transl), return_vertices=True)
    return out.vertices[0].numpy()


def test_obj_sequence_matches_body_model(body, scene, tmp_path: Path) -> None:
    path, people, _ = scene
    out = tmp_path / "obj"
    result = _cli(str(path), "-o", str(out))
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event"] == "stage" and events[-1] == {"event": "done", "output": str(out), "meshes": 6,
                                                           "format": "obj"}
    files = sorted(p.name for p in out.iterdir())
    assert files == ["person11_frame000051.obj", "person11_frame000052.obj", "person11_frame000053.obj",
                     "person3_frame000050.obj", "person3_frame000051.obj", "person3_frame000053.obj"]
    mesh = trimesh.load(out / "person3_frame000051.obj", process=False)
    np.testing.assert_allclose(mesh.vertices, _expected(body, people[0], 1), atol=1e-5)
    np.testing.assert_array_equal(mesh.faces, body.faces)
    mesh = trimesh.load(out / "person11_frame000053.obj", process=False)
    np.testing.assert_allclose(mesh.vertices, _expected(body, people[1], 3), atol=1e-5)


def test_ply_range_person_and_y_up(body, scene, tmp_path: Path) -> None:
    from core.commands.export_mesh import export_sequence, _select
    from addon.motion_file import load_motion
    from core.progress import Progress

    path, people, _ = scene
    motion = load_motion(path)
    rows, chosen = _select(motion, parse_frames("51:53"), [11])
    written = export_sequence(motion, rows, chosen, tmp_path / "ply", "ply", True, Progress("quiet"))
    assert [p.name for p in written] == ["person11_frame000051.ply", "person11_frame000052.ply"]
    mesh = trimesh.load(written[1], process=False)
    np.testing.assert_allclose(mesh.vertices, _expected(body, people[1], 2) * [1, -1, -1], atol=1e-5)
    assert not list((tmp_path / "ply").glob(".*"))


def test_glb_animation(body, scene, tmp_path: Path) -> None:
    path, people, _ = scene
    out = tmp_path / "anim.glb"
    result = _cli(str(path), "-o", str(out), "--frames", ":52")
    assert result.returncode == 0, result.stderr
    loaded = trimesh.load(out)
    names = sorted(loaded.graph.nodes_geometry)
    assert names == ["person11_frame000051", "person3_frame000050", "person3_frame000051"]
    verts = loaded.geometry["person3_frame000051"].vertices
    np.testing.assert_allclose(verts, _expected(body, people[0], 1), atol=1e-5)
    raw = out.read_bytes()
    length = struct.unpack("<I", raw[12:16])[0]
    tree = json.loads(raw[20:20 + length])
    anim = tree["animations"][0]
    assert len(anim["channels"]) == 3 and all(s["interpolation"] == "STEP" for s in anim["samplers"])
    node_names = [n["name"] for n in tree["nodes"]]
    shown = {}
    for channel in anim["channels"]:
        sampler = anim["samplers"][channel["sampler"]]
        times = tree["accessors"][sampler["input"]]
        shown[node_names[channel["target"]["node"]]] = (times["count"], times["max"][0])
    # frame 50 shown at t=0 then hidden at 0.04 s; frame 51 hidden until 0.04 s, then shown to the end
    assert shown["person3_frame000050"] == (2, pytest.approx(0.04))
    assert shown["person3_frame000051"] == (2, pytest.approx(0.04))
    start_scale = {n["name"]: n["scale"][0] for n in tree["nodes"] if "scale" in n}
    assert start_scale == {"person3_frame000050": 1.0, "person3_frame000051": 0.0, "person11_frame000051": 0.0}


def test_errors(scene, tmp_path: Path) -> None:
    path, _, _ = scene
    result = _cli(str(path), "-o", str(tmp_path / "x"), "--person", "99")
    assert result.returncode == 2 and "no person with id 99" in result.stdout
    result = _cli(str(path), "-o", str(tmp_path / "missing" / "deeper" / "out.glb"))
    assert result.returncode == 4 and not (tmp_path / "missing").exists()
    for bad in ("5", "a:b", "9:3"):
        with pytest.raises(InputError):
            parse_frames(bad)
    assert parse_frames(":10") == (None, 10) and parse_frames("3:") == (3, None)
    from core.commands.export_mesh import _select
    from addon.motion_file import load_motion

    with pytest.raises(InputError, match="no frames"):
        _select(load_motion(path), (100, None), None)
    with pytest.raises(InputError, match="not seen"):
        _select(load_motion(path), (52, 53), [3])


def test_hands_only_motion(tmp_path: Path) -> None:
    """MANO hands-only files export too; the meshes match MANO's own LBS up to its (tiny, synthetic)
    pose-corrective blend shapes, which the motion file does not carry."""
    from addon.motion_file import load_motion
    from core.commands.export_mesh import posed_vertices
    from core.motion import HandParams, hand_motion
    from models.body import load_hand_model
    from models.smplx_files import write_mano_pkl

    write_mano_pkl(tmp_path / "MANO_RIGHT.pkl", "right")
    hand = load_hand_model(str(tmp_path), "right")
    rng = np.random.default_rng(4)
    params = HandParams(track_id=0, side="right", betas=rng.normal(0, 1, 10), global_orient=rng.normal(0, 1, (2, 3)),
                        hand_pose=rng.normal(0, 0.3, (2, 15, 3)), transl=np.tile([0, 0, 0.5], (2, 1)),
                        valid=np.ones(2, bool), confidence=np.ones(2))
    write_motion(tmp_path / "hands.npz", hand_motion([params], {"right": hand}, fps=30, image_size=(640, 480),
                                                     frame_index=np.arange(2), camera=CameraParams((600, 600), (320, 240))))
    motion = load_motion(tmp_path / "hands.npz")
    verts = posed_vertices(motion, motion.people[0], np.arange(2))
    out = hand(torch.as_tensor(params.betas, dtype=torch.float32).expand(2, 10),
               torch.as_tensor(params.global_orient, dtype=torch.float32),
               torch.as_tensor(params.hand_pose, dtype=torch.float32),
               torch.as_tensor(params.transl, dtype=torch.float32), return_vertices=True)
    assert verts.shape == out.vertices.shape
    np.testing.assert_allclose(verts, out.vertices.numpy(), atol=5e-3)
