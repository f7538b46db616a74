"""Load: does one worker handle a long 1080p clip with bounded memory?

Generates two 1920x1080 clips with cv2.VideoWriter (mp4v) in a temporary folder: a long one
(default 10 minutes) and a short one (1 minute) of the same content (two real people from
Debian's opencv-doc basketball photographs on a plain background, a moving block so frames
differ), then runs the real worker CLI on each in its own process and reports the peak
resident memory (``ru_maxrss`` of that child, from ``os.wait4``) and wall time:

* ``python -m core detect CLIP -o kp.npz --stride S`` (decode every frame, detect every S-th);
* with ``--capture``: ``python -m core capture KP.npz -o motion.npz`` on that keypoints file (fit).

Bounded memory = the long clip's peak RSS is roughly the short clip's (the footage is streamed;
what grows with length is the keypoints, a few KB per processed frame).

Usage: ``.venv/worker/bin/python bench/bench_load.py [--minutes 10] [--fps 12] [--stride 12]
[--capture] [--keep DIR]``. Prints a table and one JSON line.

Blender side: ``.venv/blender/bin/python bench/bench_load.py --takes 3`` captures a short clip
with the real worker (through the add-on's job class) and applies it, three times back to back
in one bpy session, printing datablock counts and resident memory after each take, and again
after the takes are deleted and orphan data purged (a leak shows as memory that keeps growing
or datablocks that stay).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / ".venv" / "worker" / "bin" / "python"
DOC = REPO / ".cache" / "opencv-doc" / "usr/share/doc/opencv-doc/examples/data"
SIZE = (1920, 1080)


def make_clip(path: Path, seconds: float, fps: float) -> Path:
    """A 1920x1080 mp4v clip: the basketball photograph (two people) scaled to 1280x960 on a grey
    background, and a red block moving along the top edge."""
    import cv2

    photo = cv2.imread(str(DOC / "basketball1.png"))
    if photo is None:
        sys.exit(f"missing {DOC / 'basketball1.png'}: run the tests once (they fetch opencv-doc) first")
    base = np.full((SIZE[1], SIZE[0], 3), 70, np.uint8)
    base[60:1020, 320:1600] = cv2.resize(photo, (1280, 960))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, SIZE)
    if not writer.isOpened():
        sys.exit(f"cannot write {path}")
    for k in range(int(round(seconds * fps))):
        frame = base.copy()
        x = (k * 12) % (SIZE[0] - 100)
        cv2.rectangle(frame, (x, 5), (x + 100, 50), (0, 0, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def run_measured(argv: list[str]) -> dict[str, object]:
    """Run argv; its exit code, wall seconds and peak RSS (MiB) of that process alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    lines = proc.stdout.read().splitlines()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    done = {}
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") in ("done", "error"):
            done = event
    return {"code": proc.returncode, "wall_s": round(time.perf_counter() - start, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
            "result": {k: done.get(k) for k in ("frames", "people", "message") if k in done}}


def _rss_mib() -> float:
    """Current resident memory of this process (MiB, /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def blender_takes(takes: int, folder: Path) -> int:
    """Capture + apply ``takes`` times in one bpy session; print counts and memory after each."""
    import resource

    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="bench_takes_user_"))
    import bpy

    sys.path.insert(0, str(REPO))
    from addon.job import WorkerJob, worker_command
    from addon.operators.apply import load_and_apply

    clip = folder / "players.avi"
    if not clip.exists():
        script = ("import sys, cv2\n"
                  "a, b = (cv2.imread(sys.argv[1] + n) for n in ('/basketball1.png', '/basketball2.png'))\n"
                  "w = cv2.VideoWriter(sys.argv[2], cv2.VideoWriter_fourcc(*'MJPG'), 10, (640, 480))\n"
                  "[w.write(a if k % 2 == 0 else b) for k in range(12)]\nw.release()\n")
        subprocess.run([str(WORKER), "-c", script, str(DOC), str(clip)], check=True)
    bpy.ops.wm.read_homefile(use_empty=True)
    kinds = ("objects", "meshes", "armatures", "actions", "cameras", "collections", "images", "movieclips")

    def counts() -> dict[str, int]:
        return {k: len(getattr(bpy.data, k)) for k in kinds}

    rows = [{"after": "start", "rss_mib": _rss_mib(), **counts()}]
    print(json.dumps(rows[-1]), flush=True)
    for take in range(1, takes + 1):
        out = folder / f"take{take}.npz"
        out.unlink(missing_ok=True)
        job = WorkerJob(worker_command(str(WORKER), "capture", [str(clip), "-o", str(out), "--no-face"]),
                        cwd=str(REPO))
        start = time.perf_counter()
        job.start()
        status = job.wait(timeout=600)
        if status.state != "succeeded":
            print(f"take {take} failed: {status.error}")
            return 1
        captured = time.perf_counter() - start
        start = time.perf_counter()
        result = load_and_apply(bpy.context, str(out), name=f"Take{take}")
        applied = time.perf_counter() - start
        rows.append({"after": f"take {take}", "rss_mib": _rss_mib(), **counts(), "capture_s": round(captured, 1),
                     "apply_s": round(applied, 2), "avatars": len(result.avatars)})
        print(json.dumps(rows[-1]), flush=True)
    def delete_takes(label: str) -> None:
        for collection in list(bpy.data.collections):
            for obj in list(collection.objects):
                bpy.data.objects.remove(obj)
            bpy.data.collections.remove(collection)
        for _ in range(3):
            bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=True, do_recursive=True)
        rows.append({"after": label, "rss_mib": _rss_mib(), **counts()})
        print(json.dumps(rows[-1]), flush=True)

    delete_takes("takes deleted + orphans purged")
    # second round, apply only (same files): memory freed by the purge should be reused, not grow
    for take in range(1, takes + 1):
        load_and_apply(bpy.context, str(folder / f"take{take}.npz"), name=f"Again{take}")
        rows.append({"after": f"re-apply take {take}", "rss_mib": _rss_mib(), **counts()})
        print(json.dumps(rows[-1]), flush=True)
    delete_takes("deleted + purged again")
    print(f"\n{'after':>32} {'RSS MiB':>8} " + " ".join(f"{k:>11}" for k in kinds))
    for row in rows:
        print(f"{row['after']:>32} {row['rss_mib']:>8} " + " ".join(f"{row[k]:>11}" for k in kinds))
    growth = [b["rss_mib"] - a["rss_mib"] for a, b in zip(rows[1:takes], rows[2:takes + 1])]
    print(f"\nRSS growth take to take (MiB): {growth}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(json.dumps({"takes": rows, "rss_growth_mib": growth}))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--takes", type=int, default=0,
                        help="Blender side (run with .venv/blender): capture+apply this many takes in one session")
    parser.add_argument("--minutes", type=float, default=10.0, help="long clip length (default 10)")
    parser.add_argument("--fps", type=float, default=12.0, help="clip frame rate (default 12)")
    parser.add_argument("--stride", type=int, default=12, help="detect every N-th frame (default 12)")
    parser.add_argument("--capture", action="store_true", help="also fit (capture) the keypoints")
    parser.add_argument("--keep", type=Path, default=None, help="folder for the clips (default: temporary)")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench_load_"))
    folder.mkdir(parents=True, exist_ok=True)
    if args.takes:
        return blender_takes(args.takes, folder)
    rows = []
    for label, seconds in (("1 min", 60.0), (f"{args.minutes:g} min", args.minutes * 60.0)):
        clip = folder / f"clip_{int(seconds)}s.mp4"
        start = time.perf_counter()
        if not clip.exists():
            make_clip(clip, seconds, args.fps)
        made = time.perf_counter() - start
        keypoints = folder / f"kp_{int(seconds)}s.npz"
        detect = run_measured([str(WORKER), "-m", "core", "--progress", "json", "detect", str(clip), "-o",
                               str(keypoints), "--stride", str(args.stride), "--no-face"])
        row = {"clip": label, "frames": int(round(seconds * args.fps)), "size": f"{SIZE[0]}x{SIZE[1]}",
               "file_mib": round(clip.stat().st_size / 2**20, 1), "make_s": round(made, 1), "detect": detect}
        if args.capture and detect["code"] == 0:
            row["capture"] = run_measured([str(WORKER), "-m", "core", "--progress", "json", "capture",
                                           str(keypoints), "-o", str(folder / f"motion_{int(seconds)}s.npz")])
        rows.append(row)
        print(json.dumps(row), flush=True)

    print(f"\n{'clip':>8} {'frames':>7} {'stage':>8} {'exit':>5} {'wall s':>8} {'peak RSS MiB':>13}  result")
    for row in rows:
        for stage in ("detect", "capture"):
            if stage in row:
                r = row[stage]
                print(f"{row['clip']:>8} {row['frames']:>7} {stage:>8} {r['code']:>5} {r['wall_s']:>8} "
                      f"{r['peak_rss_mib']:>13}  {r['result']}")
    short, long_ = rows
    ratio = long_["detect"]["peak_rss_mib"] / max(1e-9, short["detect"]["peak_rss_mib"])
    print(f"\npeak RSS long/short (detect): {ratio:.2f}  (bounded: about 1)")
    summary = {"ratio_detect": round(ratio, 2)}
    if "capture" in long_ and "capture" in short:
        summary["ratio_capture"] = round(long_["capture"]["peak_rss_mib"] / short["capture"]["peak_rss_mib"], 2)
        print(f"peak RSS long/short (capture/fit): {summary['ratio_capture']:.2f}")
    print(json.dumps({"summary": summary, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
