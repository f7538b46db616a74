"""``python -m core evaluate``: accuracy against the ground-truth samples (or one result)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import InputError
from core.progress import Progress

HELP = ("measure accuracy against ground truth: every sample in data/samples (MPJPE, PA-MPJPE, "
        "2D overlay, focal, acceleration, foot skate, id switches, speed), or one motion file")

DEFAULT_SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--samples", default=str(DEFAULT_SAMPLES), help="folder of samples (default data/samples)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="evaluate only this sample")
    parser.add_argument("--json", default=None, metavar="OUT", help="also write the report as JSON")
    parser.add_argument("--motion", default=None, help="evaluate this existing motion file ...")
    parser.add_argument("--ground-truth", default=None, help="... against this ground-truth file")
    parser.add_argument("--no-baseline", action="store_true", help="skip the fixed 55 degree FOV comparison")
    parser.add_argument("--smoothing", type=float, default=1.0, help="smoothing strength for captures")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")


def run(args: argparse.Namespace, progress: Progress) -> int:
    from core.evaluate import evaluate_motion, evaluate_samples, format_table, write_json

    if (args.motion is None) != (args.ground_truth is None):
        raise InputError("--motion and --ground-truth go together")
    if args.motion is not None:
        for path in (args.motion, args.ground_truth):
            if not Path(path).is_file():
                raise InputError(f"{path}: no such file")
        try:
            row = evaluate_motion(args.motion, args.ground_truth)
        except KeyError as exc:
            raise InputError(f"{args.motion} / {args.ground_truth}: missing key {exc} (is it a "
                             "motion file and a ground-truth file?)") from exc
        row.update(sample=Path(args.ground_truth).parent.name, camera=row["focal_source"])
        report = {"samples": [row], "table": format_table([row])}
    else:
        from core.capture import resolve_device

        if not Path(args.samples).is_dir():
            raise InputError(f"{args.samples}: no such folder (generate samples with 'make samples')")
        report = evaluate_samples(args.samples, progress, device=resolve_device(args.device),
                                  smoothing=args.smoothing, names=args.only or None,
                                  baseline=not args.no_baseline)
        if not report["samples"]:
            raise InputError(f"{args.samples}: no samples (folders with footage.mp4 and ground_truth.npz)")
    out = sys.stderr if args.progress == "json" else sys.stdout
    print(report["table"], file=out)
    if args.json:
        write_json(report, args.json)
    if args.progress != "json":
        print(json.dumps(report["samples"], default=float), file=out)
    progress.done(args.json, samples=report["samples"])
    return 0
