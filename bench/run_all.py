"""Run every benchmark with the interpreter it needs and print their numbers.

    make bench        # or: .venv/worker/bin/python bench/run_all.py [--only NAME ...]

Worker benchmarks run in .venv/worker, Blender ones in .venv/blender. Each prints
its own table; ratios are measured within one run of each script.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCHES: dict[str, tuple[str, str]] = {
    "detect": (".venv/worker/bin/python", "bench/bench_detect.py"),
    "fit": (".venv/worker/bin/python", "bench/bench_fit.py"),
    "apply": (".venv/blender/bin/python", "bench/bench_apply.py"),
    "load": (".venv/worker/bin/python", "bench/bench_load.py"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), help="run only these")
    args = parser.parse_args()
    failed = []
    for name in args.only or BENCHES:
        python, script = BENCHES[name]
        if not (REPO / script).exists():
            print(f"== {name}: {script} not present, skipped")
            continue
        print(f"== {name}: {python} {script}", flush=True)
        if subprocess.run([str(REPO / python), script], cwd=REPO).returncode != 0:
            failed.append(name)
    if failed:
        print(f"benchmarks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
