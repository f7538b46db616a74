"""Damaged motion files through the worker CLI (``inspect``, the first thing a user runs on a file),
and missing or wrong official body-model files (SMPL-X, MANO)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.errors import ModelFileError
from models.body import load_body_model, load_hand_model
from models.smplx_files import write_smplx_npz


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _truncated(src: Path, dst: Path) -> None:
    dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2])


def _nan(src: Path, dst: Path) -> None:
    a = _arrays(src)
    a["p0/body_pose"] = a["p0/body_pose"].copy()
    a["p0/body_pose"][3, 5, 1] = np.nan
    np.savez(dst, **a)


def _inf(src: Path, dst: Path) -> None:
    a = _arrays(src)
    a["p1/transl"] = a["p1/transl"].copy()
    a["p1/transl"][0, 2] = np.inf
    np.savez(dst, **a)


def _wrong_shape(src: Path, dst: Path) -> None:
    a = _arrays(src)
    a["p0/body_pose"] = a["p0/body_pose"][:, :20]
    np.savez(dst, **a)


def _newer(src: Path, dst: Path) -> None:
    a = _arrays(src)
    a["format"] = np.array("video-mocap-motion/2")
    np.savez(dst, **a)


def _pickled(src: Path, dst: Path) -> None:
    a: dict[str, object] = dict(_arrays(src))
    a["source"] = np.array([{"evil": "object"}], dtype=object)
    np.savez(dst, **a)  # numpy pickles object arrays


def _missing_key(src: Path, dst: Path) -> None:
    a = _arrays(src)
    del a["p1/global_orient"]
    np.savez(dst, **a)


CASES = {
    "truncated (first half of the file)": (_truncated, ("truncated", "damaged")),
    "NaN in a body pose": (_nan, ("non-finite", "nan")),
    "inf in a translation": (_inf, ("non-finite", "inf")),
    "wrong shape (20 body joints instead of 21)": (_wrong_shape, ("shape",)),
    "newer format version (video-mocap-motion/2)": (_newer, ("newer", "version")),
    "holds a pickled Python object": (_pickled, ("pickle", "object")),
    "a required key missing": (_missing_key, ("missing", "lacks")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damaged_motion_file(cli, media, tmp_path, record, h, case: str) -> None:
    make, words = CASES[case]
    bad = tmp_path / "take.npz"
    make(media["motion"], bad)
    run = cli(["inspect", str(bad)])
    record("motion files", f"motion file: {case}", run.message, run.code, how="python -m core inspect")
    run.assert_clean()
    assert run.code == 2, (run.code, run.message)
    assert any(w in run.message.lower() for w in words), run.message


# -- official body-model files ---------------------------------------------------------------------

def _smplx_cases(tmp: Path) -> dict[str, tuple[str, str]]:
    """case -> (model folder, words the message must hold)."""
    empty = tmp / "empty"
    empty.mkdir()
    text = tmp / "text"
    text.mkdir()
    (text / "SMPLX_NEUTRAL.npz").write_text("not a model")
    truncated = tmp / "truncated"
    good = write_smplx_npz(tmp / "good" / "SMPLX_NEUTRAL.npz")
    truncated.mkdir()
    (truncated / "SMPLX_NEUTRAL.npz").write_bytes(good.read_bytes()[:5000])
    wrong = tmp / "wrong"
    wrong.mkdir()
    with np.load(good, allow_pickle=True) as data:
        arrays = {k: data[k] for k in data.files}
    del arrays["shapedirs"]
    np.savez(wrong / "SMPLX_NEUTRAL.npz", **arrays)
    return {"smplx_dir empty": (str(empty), "no smpl-x model file found"),
            "smplx_dir holds a text file named SMPLX_NEUTRAL.npz": (str(text), "not a readable"),
            "SMPLX_NEUTRAL.npz truncated": (str(truncated), "not a readable"),
            "SMPLX_NEUTRAL.npz without its shape blend shapes (wrong file)": (str(wrong), "missing shapedirs"),
            "smplx_dir not set": ("", "needs a model folder")}


@pytest.mark.parametrize("case", ["smplx_dir empty", "smplx_dir holds a text file named SMPLX_NEUTRAL.npz",
                                  "SMPLX_NEUTRAL.npz truncated",
                                  "SMPLX_NEUTRAL.npz without its shape blend shapes (wrong file)",
                                  "smplx_dir not set"])
def test_smplx_files(tmp_path, record, case: str) -> None:
    folder, words = _smplx_cases(tmp_path)[case]
    with pytest.raises(ModelFileError) as info:
        load_body_model("smplx", folder)
    message = str(info.value)
    record("body model files", case, message, f"ModelFileError (exit {ModelFileError.exit_code})",
           how="models.body.load_body_model")
    assert words in message.lower(), message
    assert not isinstance(info.value.__cause__, zipfile.BadZipFile) or "readable" in message


def test_mano_dir_empty(tmp_path, record) -> None:
    with pytest.raises(ModelFileError) as info:
        load_hand_model(str(tmp_path), "right")
    record("body model files", "mano_dir empty", str(info.value), f"ModelFileError (exit {ModelFileError.exit_code})",
           how="models.body.load_hand_model")
    assert "mano" in str(info.value).lower()


def test_capture_uses_smplx_dir(cli, media, record, tmp_path) -> None:
    """``capture --smplx-dir``: the user's official-format SMPL-X file is what gets fitted and written."""
    from addon.motion_file import load_motion

    model_file = write_smplx_npz(tmp_path / "models" / "SMPLX_NEUTRAL.npz")
    out = tmp_path / "take.npz"
    run = cli(["capture", str(media["keypoints"]), "-o", str(out), "--smplx-dir", str(model_file.parent)])
    done = next((e for e in run.events if e.get("event") == "done"), {})
    record("body model files", "capture with the user's SMPL-X folder",
           f"{run.message}, body model {done.get('body_model')}", run.code,
           how="python -m core capture KEYPOINTS --smplx-dir DIR")
    run.assert_clean()
    assert run.code == 0, run.message
    motion = load_motion(out)
    assert motion.avatar.model == "smplx" and str(motion.extras["avatar/source"]) == "SMPLX_NEUTRAL.npz"
    with np.load(model_file) as official:
        assert motion.avatar.num_vertices == official["v_template"].shape[0]
    assert any("official SMPL-X" in str(e.get("message", "")) for e in run.events)


def _capture_model_cases(tmp: Path) -> dict[str, tuple[list[str], int, str]]:
    """case -> (capture options, exit code, words the message must hold)."""
    tmp.mkdir(parents=True, exist_ok=True)
    cases = {name: (["--smplx-dir", folder], 3, words) for name, (folder, words) in _smplx_cases(tmp).items()
             if folder}
    male_only = tmp / "male_only"
    write_smplx_npz(male_only / "SMPLX_MALE.npz")
    cases["--smplx-dir DIR that does not exist"] = (["--smplx-dir", str(tmp / "nowhere")], 3,
                                                    "does not exist")
    cases["--smplx-dir with only SMPLX_MALE.npz (neutral asked)"] = (["--smplx-dir", str(male_only)], 3,
                                                                     "choose gender male")
    cases["--gender without --smplx-dir"] = (["--gender", "male"], 2, "--gender needs --smplx-dir")
    return cases


CAPTURE_MODEL_CASES = ["smplx_dir empty", "smplx_dir holds a text file named SMPLX_NEUTRAL.npz",
                       "SMPLX_NEUTRAL.npz truncated",
                       "SMPLX_NEUTRAL.npz without its shape blend shapes (wrong file)",
                       "--smplx-dir DIR that does not exist",
                       "--smplx-dir with only SMPLX_MALE.npz (neutral asked)",
                       "--gender without --smplx-dir"]


@pytest.mark.parametrize("case", CAPTURE_MODEL_CASES)
def test_capture_with_a_bad_smplx_dir(cli, media, record, tmp_path, h, case: str) -> None:
    """Bad model folders stop the capture at once (before any detection) with a clear message."""
    options, code, words = _capture_model_cases(tmp_path / "models")[case]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    run = cli(["capture", str(media["long_clip"]), "-o", str(out_dir / "take.npz"), *options])
    left = h.leftovers(out_dir)
    record("body model files", f"capture: {case}", run.message, run.code, left=h.describe_left(left),
           how="python -m core capture FOOTAGE " + " ".join(
               "DIR" if k and options[k - 1] == "--smplx-dir" else o for k, o in enumerate(options)))
    run.assert_clean()
    assert run.code == code, (run.code, run.message)
    assert words.lower() in run.message.lower(), run.message
    assert "detect" not in run.stages() and left == []
