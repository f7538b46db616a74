"""Frames per second of ``core detect`` per stage, beside plain decoding and plain Holistic.

    .venv/worker/bin/python bench/bench_detect.py [--frames 60] [--json out.json]

Four cases: 1 and 3 people at 640x480 and 1280x720. Each case is a real video file (MJPG
in a temporary folder) so decoding is measured, not assumed:

* footage: ``data/samples/default/footage.mp4`` (1 person) and
  ``data/samples/three_people_50mm/footage.mp4`` (3 people) when they exist, resized to the
  case's size; otherwise compositions of real footage nobody here made (opencv-doc's
  ``basketball1.png`` / ``basketball2.png``: the left player, cut out and placed once or three
  times on a neutral canvas, alternating between the two photographs and drifting a few
  pixels per frame so trackers see motion);
* ``decode``: the footage reader alone (``core.footage.open_footage``);
* ``pipeline``: ``core.detect.KeypointPipeline`` (what ``detect_keypoints`` runs per frame)
  with default options; per-stage frames/s from its ``timings`` (``decode``, ``detect``, ``track``,
  ``landmarks`` = hands + face, wall clock on their background thread, overlapping the next
  frame's decoding and tracking, so the stages add up to more than end to end) and
  end to end (wall clock over the whole run: every frame, the first one's full detection sweep
  included); ``setup``: seconds to build the pipeline (loading the networks), reported beside
  the frame rates, not in them (``core capture`` builds one per chunk of
  ``core.checkpoint.CHUNK_FRAMES`` frames, so a 60-frame run weighs the first frame's sweep and
  the setup about 5x more than a chunk does);
* ``holistic``: plain single-person ``mp.solutions.holistic.Holistic`` (video mode, model
  complexity 1) on the same frames, the reference speed of a one-person whole-body solution.
  Pipeline and Holistic run interleaved, in blocks of 10 frames, so both see the same machine load;
  CPU milliseconds per frame (all threads) are printed too, as they depend less on that load.

Every ratio is measured in the same run (the machine is shared: absolute numbers drift,
ratios less so). Targets (issue 3): >= 30 frames/s end to end for one person at 640x480;
>= 10 frames/s for three people at 1280x720 on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core.footage import open_footage  # noqa: E402

SIZES = ((640, 480), (1280, 720))
SAMPLES = {1: REPO / "data/samples/default/footage.mp4", 3: REPO / "data/samples/three_people_50mm/footage.mp4"}
OPENCV_DOC = REPO / ".cache/opencv-doc/usr/share/doc/opencv-doc/examples/data"
TARGETS = {(1, (640, 480)): 30.0, (3, (1280, 720)): 10.0}


@dataclass
class CaseResult:
    people: int
    width: int
    height: int
    frames: int
    footage: str
    decode_fps: float
    holistic_fps: float
    pipeline_fps: float
    stage_fps: dict[str, float]
    people_found_mean: float
    target_fps: float | None
    cpu_ms_pipeline: float
    cpu_ms_holistic: float
    setup_s: float

    @property
    def verdict(self) -> str:
        if self.target_fps is None:
            return ""
        return "meets target" if self.pipeline_fps >= self.target_fps else f"below target {self.target_fps:g}"


# -- footage ----------------------------------------------------------------------------

def _player_crops() -> list[np.ndarray]:
    """The left basketball player from both opencv-doc photographs: (H, W, 3) BGR crops."""
    if not (OPENCV_DOC / "basketball1.png").exists():
        sys.path.insert(0, str(REPO / "tests"))
        from conftest import _fetch_opencv_doc_examples  # the tests' own fetcher (apt-get download)

        _fetch_opencv_doc_examples()
    crops = []
    for name in ("basketball1.png", "basketball2.png"):
        image = cv2.imread(str(OPENCV_DOC / name))
        crops.append(image[40:480, 0:230].copy())  # x 0..230: the whole left player, head to feet
    return crops


def _composed_frames(people: int, size: tuple[int, int], frames: int) -> list[np.ndarray]:
    """``people`` copies of the real player side by side on a grey canvas, drifting over time."""
    width, height = size
    crops = _player_crops()
    scale = min(0.9 * height / crops[0].shape[0], (width / people) * 0.9 / crops[0].shape[1])
    resized = [cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) for c in crops]
    ch, cw = resized[0].shape[:2]
    out = []
    for t in range(frames):
        canvas = np.full((height, width, 3), 118, np.uint8)
        for k in range(people):
            drift = int(round(6 * np.sin(2 * np.pi * (t / 40.0 + k / 3.0))))
            x = int((k + 0.5) * width / people - cw / 2) + drift
            y = height - ch - 4
            x = int(np.clip(x, 0, width - cw))
            canvas[y:y + ch, x:x + cw] = resized[(t // 4 + k) % 2]
        out.append(canvas)
    return out


def _sample_frames(path: Path, size: tuple[int, int], frames: int) -> list[np.ndarray]:
    out = []
    with open_footage(path, end=frames) as footage:
        for frame in footage:
            out.append(cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA))
    return out


def make_case_video(folder: Path, people: int, size: tuple[int, int], frames: int) -> tuple[Path, str]:
    """Write the case's footage as MJPG; returns its path and where the pictures came from."""
    sample = SAMPLES[people]
    if sample.exists():
        images, origin = _sample_frames(sample, size, frames), f"{sample.relative_to(REPO)} resized"
    else:
        images, origin = _composed_frames(people, size, frames), "opencv-doc basketball player x%d" % people
    path = folder / f"case_{people}p_{size[0]}x{size[1]}.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, size)
    for image in images:
        writer.write(image)
    writer.release()
    return path, origin


# -- measurements -----------------------------------------------------------------------

def measure_decode(path: Path) -> tuple[float, int]:
    start = time.perf_counter()
    with open_footage(path) as footage:
        count = sum(1 for _ in footage)
    return count / (time.perf_counter() - start), count


class _Clock:
    """Wall and CPU seconds (all threads of this process) spent inside ``with`` blocks."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __enter__(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu


def measure_interleaved(path: Path, block: int = 10) -> tuple[float, dict[str, float], float, float, float, float,
                                                               float]:
    """One pass in blocks of ``block`` frames: the pipeline decodes and processes a block as
    ``detect_keypoints`` does (each frame's hands and face run in the background while the next
    frame is decoded and tracked; the block's clock stops when the last one is done), then plain
    Holistic runs on the same frames.

    Interleaving in short blocks exposes both to the same machine load, so their ratio holds
    on a shared machine (frame by frame would let the pipeline's background work overlap
    Holistic's). Returns end-to-end pipeline frames/s, per-stage frames/s, Holistic
    frames/s, CPU ms per frame (pipeline incl. decode, Holistic), mean people per frame and
    seconds to build the pipeline.
    """
    import mediapipe as mp

    from core.detect import DetectOptions, KeypointPipeline

    decode, pipe, holi = _Clock(), _Clock(), _Clock()
    found: list[int] = []
    with open_footage(path) as footage, \
            mp.solutions.holistic.Holistic(static_image_mode=False, model_complexity=1) as holistic:
        info = footage.info
        start = time.perf_counter()
        pipeline = KeypointPipeline(DetectOptions(), info.width, info.height, info.fps, source=str(path))
        setup = time.perf_counter() - start
        try:
            iterator = iter(footage)
            ended = False
            while not ended:
                images = []
                with pipe:
                    while len(images) < block:
                        with decode:
                            frame = next(iterator, None)
                        if frame is None:
                            ended = True
                            break
                        found.append(pipeline.submit(frame))
                        images.append(frame.image)
                    pipeline.wait()
                with holi:
                    for image in images:
                        holistic.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            timings = dict(pipeline.timings)
        finally:
            pipeline.close()
    frames = len(found)
    stages = {"decode": decode.wall, "detect": timings.get("detect", 0.0), "track": timings.get("track", 0.0),
              "landmarks": timings["landmarks"]}
    stage_fps = {name: (frames / sec if sec > 0 else float("inf")) for name, sec in stages.items()}
    pipeline_fps = frames / pipe.wall  # decode included
    cpu_pipe_ms = 1000 * pipe.cpu / frames
    cpu_holi_ms = 1000 * holi.cpu / frames
    return pipeline_fps, stage_fps, frames / holi.wall, cpu_pipe_ms, cpu_holi_ms, float(np.mean(found)), setup


def run_case(folder: Path, people: int, size: tuple[int, int], frames: int) -> CaseResult:
    path, origin = make_case_video(folder, people, size, frames)
    decode_fps, count = measure_decode(path)
    pipeline_fps, stage_fps, holistic_fps, cpu_pipe, cpu_holi, found, setup = measure_interleaved(path)
    return CaseResult(people, size[0], size[1], count, origin, decode_fps, holistic_fps, pipeline_fps, stage_fps,
                      found, TARGETS.get((people, size)), cpu_pipe, cpu_holi, setup)


def report(results: list[CaseResult]) -> str:
    lines = [f"{'case':<16}{'decode':>9}{'detect':>9}{'track':>9}{'landmk':>9}{'pipeline':>10}"
             f"{'holistic':>10}{'pipe/holi':>10}{'cpu ms':>14}{'found':>7}{'setup s':>9}  verdict",
             "(frames/s; a stage column is frames / seconds spent in that stage alone; track = body landmark "
             "network on tracked regions + assignment; landmk = hands + face (background thread, overlaps the "
             "next frame); pipeline = end to end, wall clock, decode included; holistic = plain single-person "
             "Holistic, decode excluded, run on each block of 10 frames right after the pipeline (same load); cpu ms = CPU milliseconds per frame, all threads, pipeline / holistic; found = mean "
             "people per frame; setup s = seconds to build the pipeline, not in any frame rate)"]
    for r in results:
        s = r.stage_fps
        lines.append(f"{r.people}p {r.width}x{r.height:<8}{r.decode_fps:>9.1f}{s['detect']:>9.1f}{s['track']:>9.1f}"
                     f"{s['landmarks']:>9.1f}{r.pipeline_fps:>10.1f}{r.holistic_fps:>10.1f}"
                     f"{r.pipeline_fps / r.holistic_fps:>10.2f}"
                     f"{f'{r.cpu_ms_pipeline:.0f} / {r.cpu_ms_holistic:.0f}':>14}"
                     f"{r.people_found_mean:>7.2f}{r.setup_s:>9.2f}  {r.verdict}")
    lines.append("footage: " + "; ".join(sorted({r.footage for r in results})))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=60, help="frames per case (default 60)")
    parser.add_argument("--cases", default="1x640,1x1280,3x640,3x1280",
                        help="comma list of PEOPLExWIDTH (default all four)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    cases = []
    for item in args.cases.split(","):
        people, width = (int(v) for v in item.lower().split("x"))
        cases.append((people, next(s for s in SIZES if s[0] == width)))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_detect_") as tmp:
        for people, size in cases:
            result = run_case(Path(tmp), people, size, args.frames)
            results.append(result)
            print(f"done {people}p {size[0]}x{size[1]}: pipeline {result.pipeline_fps:.1f} frames/s", file=sys.stderr)
    print(f"bench_detect: {args.frames} frames per case, {os.cpu_count()} CPU cores visible")
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps([{**asdict(r), "verdict": r.verdict} for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
