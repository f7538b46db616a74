"""samples.generate: skips complete samples, clear errors, nothing half-made on failure."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError, MocapError
from models.body import mannequin_rest_joints
from samples import pose as pz
from samples.generate import FILES, decode_mask, generate, id_colour, is_complete
from samples.scenes import CALIBRATION_SCENES, SCENES

REPO = Path(__file__).resolve().parents[2]


def test_complete_sample_is_skipped_and_left_untouched(samples_root: Path) -> None:
    folder = samples_root / "default"
    before = {f: (folder / f).stat().st_mtime_ns for f in FILES}
    start = time.perf_counter()
    meta = generate("default", samples_root)
    assert meta["skipped"] and time.perf_counter() - start < 1.0
    assert {f: (folder / f).stat().st_mtime_ns for f in FILES} == before


def test_partial_folder_is_not_complete(samples_root: Path, tmp_path: Path) -> None:
    assert is_complete(samples_root / "default")
    partial = tmp_path / "default"
    partial.mkdir()
    shutil.copy(samples_root / "default" / "footage.mp4", partial / "footage.mp4")
    assert not is_complete(partial)
    shutil.copytree(samples_root / "default", tmp_path / "old")
    meta = (tmp_path / "old" / "sample.json")
    meta.write_text(meta.read_text().replace('"version": ', '"version": -1, "was": '))
    assert not is_complete(tmp_path / "old"), "an older generator's output is stale"


def test_render_failure_leaves_nothing_behind(tmp_path: Path) -> None:
    # the worker's own Python has no bpy: the real render subprocess fails after posing
    with pytest.raises(MocapError, match="rendering failed"):
        generate("closeup_24mm", tmp_path, blender_python=Path(sys.executable))
    assert list(tmp_path.iterdir()) == []


def test_missing_blender_environment_is_a_clear_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Blender environment not found"):
        generate("default", tmp_path / "out", blender_python=tmp_path / "no" / "python")
    assert not (tmp_path / "out" / "default").exists()


@pytest.mark.parametrize("args,message", [(["nonesuch"], "unknown sample 'nonesuch'"),
                                          ([], "name at least one sample")])
def test_cli_bad_names_exit_2_without_traceback(args: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "samples.generate", *args], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_cli_lists_the_samples() -> None:
    result = subprocess.run([sys.executable, "-m", "samples.generate", "--list"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names[:1] == ["default"] and "three_people_50mm" in names and len(names) == 6


def test_cli_lists_the_calibration_clips_apart_from_the_samples() -> None:
    result = subprocess.run([sys.executable, "-m", "samples.generate", "--list", "--calibration"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert names == list(CALIBRATION_SCENES)


def test_a_calibration_clip_named_alone_goes_to_the_calibration_folder_not_the_samples() -> None:
    result = subprocess.run([sys.executable, "-m", "samples.generate", "cal_70mm"], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert is_complete(REPO / ".cache" / "calibration" / "cal_70mm")
    assert not (REPO / "data" / "samples" / "cal_70mm").exists()


def test_calibration_clips_are_other_shots_than_the_held_out_samples() -> None:
    """Constants tuned on the calibration clips must not have seen an evaluation sample: no name,
    and no camera (position, target, lens) of a sample, is reused; each clip is well formed."""
    mean = pz.hand_mean()
    samples = [build(mean, mannequin_rest_joints) for build in SCENES.values()]
    shots = {(s.camera.position, s.camera.target, s.camera.focal_mm) for s in samples}
    assert not set(CALIBRATION_SCENES) & set(SCENES)
    lenses = set()
    for name, build in CALIBRATION_SCENES.items():
        scene = build(mean, mannequin_rest_joints)
        assert scene.name == name
        assert (scene.camera.position, scene.camera.target, scene.camera.focal_mm) not in shots
        assert scene.figures and all(len(f.motion) == scene.frames for f in scene.figures)
        lenses.add(scene.camera.focal_mm)
    assert min(lenses) <= 24.0 and max(lenses) >= 70.0        # close-ups and long lenses both


def test_id_colours_decode_back_to_ids() -> None:
    img = np.zeros((1, 8, 3), np.uint8)
    for i in range(7):
        img[0, i + 1] = (id_colour(i)[::-1] * 255).astype(np.uint8)   # BGR as cv2 reads it
    assert decode_mask(img).tolist() == [[0, 1, 2, 3, 4, 5, 6, 7]]


def test_sigterm_during_rendering_leaves_nothing_behind(tmp_path: Path) -> None:
    """Cancel (SIGTERM) while Blender renders: exit 130, no sample folder, no temporary left."""
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "samples.generate", "closeup_24mm", "--root", str(tmp_path)],
                            cwd=REPO, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = ""
    deadline = time.monotonic() + 300
    while "render" not in seen and time.monotonic() < deadline:
        chunk = proc.stderr.read(1)
        if not chunk:
            break
        seen += chunk
    assert "render" in seen, seen[-2000:]
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 130, (seen + rest)[-2000:]
    assert "Traceback" not in rest
    assert list(tmp_path.iterdir()) == []
