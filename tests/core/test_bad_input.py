"""Bad input through the real CLI: ``python -m core detect`` in a subprocess, one row per input.

Every row must end in either a clear message with a non-zero exit code, or success with a
valid keypoints file (possibly empty): never a traceback. Rows that run the networks over
frames are marked slow.

Set ``BAD_INPUT_TABLE=path.md`` to also write the table of what the user sees (markdown).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.keypoints_file import load_keypoints

REPO = Path(__file__).resolve().parents[2]
ROWS: list[tuple[str, str, int, str]] = []


@dataclass(frozen=True)
class Case:
    """One bad input: how to make it, the extra CLI arguments, and what must happen."""

    name: str
    make: Callable[[Path, Path], Path]   # (tmp folder, opencv-doc folder) -> input path
    exit_code: int                       # expected exit status
    words: str = ""                      # must appear in the error (exit != 0) or in an info line
    args: tuple[str, ...] = ()
    min_people: int | None = None        # for exit 0: at least this many people
    max_people: int | None = None        # for exit 0: at most this many
    slow: bool = False


def _write_video(path: Path, images: list[np.ndarray], fourcc: str = "MJPG", fps: float = 10.0) -> Path:
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened()
    for image in images:
        writer.write(image)
    writer.release()
    return path


def _players(doc: Path, frames: int) -> list[np.ndarray]:
    """Real footage with people: opencv-doc's basketball photographs, alternating."""
    images = [cv2.imread(str(doc / "basketball1.png")), cv2.imread(str(doc / "basketball2.png"))]
    return [images[k % 2] for k in range(frames)]


def _text(tmp: Path, _doc: Path) -> Path:
    path = tmp / "notes.mp4"
    path.write_text("this is not a video\n" * 100)
    return path


def _truncated(tmp: Path, doc: Path) -> Path:
    path = _write_video(tmp / "cut.avi", _players(doc, 6))
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])
    return path


def _truncated_mp4(tmp: Path, doc: Path) -> Path:
    path = _write_video(tmp / "cut.mp4", _players(doc, 4), fourcc="mp4v")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _zero_frames(tmp: Path, _doc: Path) -> Path:
    path = tmp / "zero.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    writer.release()
    return path


def _black(tmp: Path, _doc: Path) -> Path:
    return _write_video(tmp / "black.avi", [np.zeros((480, 640, 3), np.uint8)] * 4)


def _no_person(_tmp: Path, doc: Path) -> Path:
    return doc / "fruits.jpg"


def _tiny(tmp: Path, doc: Path) -> Path:
    return _write_video(tmp / "tiny.avi", [cv2.resize(img, (16, 16)) for img in _players(doc, 3)])


def _huge(tmp: Path, doc: Path) -> Path:
    path = tmp / "8k.jpg"
    cv2.imwrite(str(path), cv2.resize(cv2.imread(str(doc / "basketball1.png")), (7680, 4320)))
    return path


def _grayscale(tmp: Path, doc: Path) -> Path:
    path = tmp / "grey.png"
    cv2.imwrite(str(path), cv2.imread(str(doc / "basketball1.png"), cv2.IMREAD_GRAYSCALE))
    return path


def _rotated(tmp: Path, doc: Path) -> Path:
    """A phone-style file: pictures coded sideways plus a display matrix turning them upright."""
    import struct

    sideways = [cv2.rotate(img, cv2.ROTATE_90_COUNTERCLOCKWISE) for img in _players(doc, 3)]
    path = _write_video(tmp / "rotated.mp4", sideways, fourcc="mp4v")
    data = bytearray(path.read_bytes())
    at = data.find(b"tkhd")
    matrix = at + 8 + (20 if data[at + 4] == 0 else 32) + 16
    for k, value in enumerate((0, 1, 0, -1, 0, 0)):  # 90 degrees clockwise, 16.16 fixed point
        data[matrix + 4 * k: matrix + 4 * k + 4] = struct.pack(">i", value * 65536)
    path.write_bytes(bytes(data))
    return path


def _players_video(tmp: Path, doc: Path) -> Path:
    return _write_video(tmp / "players.avi", _players(doc, 3))


def _folder_without_images(tmp: Path, _doc: Path) -> Path:
    folder = tmp / "empty folder"
    folder.mkdir(exist_ok=True)
    (folder / "readme.txt").write_text("nothing")
    return folder


CASES = [
    Case("missing file", lambda tmp, _: tmp / "nope.mp4", 2, "not found"),
    Case("text file named .mp4", _text, 2, "not a video"),
    Case("folder without images", _folder_without_images, 2, "holds no images"),
    Case("MP4 cut in half (index lost)", _truncated_mp4, 2, "moov"),
    Case("video with zero frames", _zero_frames, 2, "no frame"),
    Case("bad range (--start 5 --end 2)", _players_video, 2, "must be greater", ("--start", "5", "--end", "2")),
    Case("bad stride (--stride 0)", _players_video, 2, "stride", ("--stride", "0")),
    Case("start past the end (--start 50)", _players_video, 2, "start frame 50", ("--start", "50")),
    Case("output not .npz", _players_video, 2, ".npz", ("-o", "{tmp}/out.txt")),
    Case("output folder missing", _players_video, 4, "does not exist", ("-o", "{tmp}/no/such/out.npz")),
    Case("AVI cut at 60% (frames before kept)", _truncated, 0, "truncated or damaged", min_people=1, slow=True),
    Case("all-black frames", _black, 0, "nobody found", max_people=0, slow=True),
    Case("no person (fruit photo)", _no_person, 0, "nobody found", max_people=0, slow=True),
    Case("tiny 16x16 frames", _tiny, 0, "", max_people=0, slow=True),
    Case("8K image (7680x4320)", _huge, 0, "", min_people=1, slow=True),
    Case("grayscale image", _grayscale, 0, "", min_people=1, slow=True),
    Case("rotation metadata (90 deg)", _rotated, 0, "", min_people=1, slow=True),
]


def _param(case: Case) -> object:
    return pytest.param(case, id=case.name, marks=[pytest.mark.slow] if case.slow else [])


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_detect_bad_input(case: Case, tmp_path: Path, opencv_doc_data: Path) -> None:
    source = case.make(tmp_path, opencv_doc_data)
    out = tmp_path / "keypoints.npz"
    args = [a.format(tmp=tmp_path) for a in case.args]
    if "-o" not in args:
        args += ["-o", str(out)]
    else:
        out = Path(args[args.index("-o") + 1])
    result = subprocess.run([sys.executable, "-m", "core", "--progress", "json", "detect", str(source), *args],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert events, result.stdout + result.stderr[-2000:]
    last = events[-1]
    messages = [e.get("message", "") for e in events if e["event"] in ("info", "error")]
    assert result.returncode == case.exit_code, (result.returncode, messages, result.stderr[-2000:])
    if case.exit_code != 0:
        assert last["event"] == "error" and last["exit_code"] == case.exit_code
        assert last["traceback"] is None, "a user-facing error must not carry a traceback"
        assert case.words in last["message"], last["message"]
        assert not out.exists()
        seen = last["message"]
    else:
        assert last["event"] == "done", last
        keypoints = load_keypoints(out)  # valid by the format's own validator
        assert keypoints.num_frames >= 1
        people = len(keypoints.people)
        if case.min_people is not None:
            assert people >= case.min_people, (people, messages)
        if case.max_people is not None:
            assert people <= case.max_people, (people, messages)
        if case.words:
            assert any(case.words in m for m in messages), messages
        seen = (f"ok: {keypoints.num_frames} frames, {people} people, "
                f"{keypoints.image_size[0]}x{keypoints.image_size[1]}")
        notes = [m for m in messages if "truncated" in m or "nobody" in m]
        if notes:
            seen += f"; note: {notes[0]}"
        if "rotation" in case.name:
            assert keypoints.image_size == (640, 480), "frames were not turned upright"
        if "cut at 60%" in case.name:
            assert 1 <= keypoints.num_frames < 6
    shown_args = " ".join(args[:-2] if args[-2] == "-o" else args).replace(str(tmp_path), "TMP")
    ROWS.append((case.name, shown_args, result.returncode, seen.replace(str(tmp_path), "TMP")))


@pytest.fixture(scope="module", autouse=True)
def _write_table() -> object:
    yield
    target = os.environ.get("BAD_INPUT_TABLE")
    if target and ROWS:
        lines = ["| input | arguments | exit code | what the user sees |", "|---|---|---|---|"]
        lines += [f"| {n} | {a or '-'} | {c} | {s.replace('|', '/')} |" for n, a, c, s in ROWS]
        Path(target).write_text("\n".join(lines) + "\n")
