"""Damaged motion files applied in Blender: a clear error and the scene exactly as it was."""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _save(dst: Path, arrays: dict) -> Path:
    np.savez(dst, **arrays)
    return dst


def _damage(case: str, src: Path, dst: Path) -> Path:
    a: dict = _arrays(src)
    if case == "truncated":
        dst.write_bytes(src.read_bytes()[: src.stat().st_size * 2 // 3])
        return dst
    if case == "NaN":
        a["p0/body_pose"] = a["p0/body_pose"].copy()
        a["p0/body_pose"][5, 3, 0] = np.nan
    elif case == "inf":
        a["p1/global_orient"] = a["p1/global_orient"].copy()
        a["p1/global_orient"][2, 1] = -np.inf
    elif case == "wrong shapes":
        a["p1/left_hand_pose"] = np.zeros((len(a["frame_index"]), 12, 3))
    elif case == "newer format version":
        a["format"] = np.array("video-mocap-motion/3")
    elif case == "not an npz":
        dst.write_text("hello")
        return dst
    elif case == "rows disagree with frame_index":
        a["frame_index"] = a["frame_index"][:-2]
    return _save(dst, a)


CASES = {"truncated": ("truncated", "damaged"), "NaN": ("non-finite",), "inf": ("non-finite",),
         "wrong shapes": ("shape",), "newer format version": ("newer",), "not an npz": ("not", "damaged"),
         "rows disagree with frame_index": ("shape", "rows", "frames")}


@pytest.mark.parametrize("case", list(CASES))
def test_apply_damaged_motion_file(ext, files, empty_scene, tmp_path, record, h, case: str) -> None:
    apply = __import__(f"{ext.__name__}.operators.apply", fromlist=["x"])
    bad = _damage(case, files["motion"], tmp_path / "take.npz")
    apply.load_and_apply(bpy.context, str(files["motion"]), name="Good")  # a scene with a take in it
    before = h.scene_counts()
    names = sorted(o.name for o in bpy.data.objects)
    with pytest.raises(apply.ApplyError) as info:
        apply.load_and_apply(bpy.context, str(bad))
    after = h.scene_counts()
    message = str(info.value)
    record("add-on apply", f"Apply a motion file: {case}", message, "ApplyError (report ERROR)",
           "scene unchanged (datablock counts equal)" if before == after else f"scene changed: {before} -> {after}")
    assert before == after and names == sorted(o.name for o in bpy.data.objects)
    assert any(w in message.lower() for w in CASES[case]), message
    assert "Traceback" not in message


def test_apply_operator_reports_without_traceback(ext, files, empty_scene, tmp_path, record, h) -> None:
    bad = _damage("NaN", files["motion"], tmp_path / "take.npz")
    before = h.scene_counts()
    with pytest.raises(RuntimeError) as info:  # bpy turns an operator's ERROR report into RuntimeError
        bpy.ops.video_mocap.apply(filepath=str(bad))
    record("add-on apply", "Apply Motion File operator on a file with NaN", str(info.value).strip(),
           "CANCELLED, report ERROR", "scene unchanged" if before == h.scene_counts() else "scene changed")
    assert before == h.scene_counts()
    assert "non-finite" in str(info.value) and "Traceback" not in str(info.value)


@pytest.mark.parametrize("where", ["build_camera", "write_channels"])
def test_apply_failing_midway_leaves_the_scene_as_it_was(ext, files, empty_scene, record, h, monkeypatch,
                                                         where: str) -> None:
    """A fault after avatars were built (camera) or while keys are written: everything is rolled back."""
    apply = __import__(f"{ext.__name__}.operators.apply", fromlist=["x"])
    apply.load_and_apply(bpy.context, str(files["motion"]), name="Good")
    scene = bpy.context.scene
    settings = (scene.frame_start, scene.frame_end, scene.frame_current, scene.camera,
                scene.render.resolution_x, scene.render.fps)
    before = h.scene_counts()
    calls = {"n": 0}
    original = getattr(apply, where)

    def broken(*args, **kwargs):
        calls["n"] += 1
        if where == "build_camera" or calls["n"] == 3:  # write_channels: during the second person
            raise RuntimeError(f"simulated fault in {where}")
        return original(*args, **kwargs)

    monkeypatch.setattr(apply, where, broken)
    with pytest.raises(apply.ApplyError) as info:
        apply.load_and_apply(bpy.context, str(files["motion"]), name="Broken")
    after = h.scene_counts()
    same = (scene.frame_start, scene.frame_end, scene.frame_current, scene.camera,
            scene.render.resolution_x, scene.render.fps) == settings
    record("add-on apply", f"apply fails midway ({where} raises after part of the take was built)",
           str(info.value), "ApplyError (report ERROR)",
           "scene unchanged (datablocks and scene settings)" if before == after and same else
           f"scene changed: {before} -> {after}")
    assert before == after and same
    assert "Broken" not in bpy.data.collections
