"""``python -m core detect INPUT -o keypoints.npz``: people, ids and whole-body keypoints."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.detect import BoxPrompt, DetectOptions, detect_keypoints
from core.errors import InputError
from core.keypoints_file import save_keypoints
from core.progress import Progress

HELP = "find and track people in footage; write body, hand and face keypoints (.npz)"


def add_range_and_people_arguments(parser: argparse.ArgumentParser) -> None:
    """Frame range and person options shared by ``detect`` and ``capture``."""
    parser.add_argument("--start", type=int, default=0, help="first source frame (default 0)")
    parser.add_argument("--end", type=int, default=None, help="stop before this source frame")
    parser.add_argument("--stride", type=int, default=1, help="use every N-th frame (default 1)")
    parser.add_argument("--mirrored", action="store_true",
                        help="the footage is a mirror image (selfie, webcam): flip it back first, so "
                             "right hands are right hands (files then hold the flipped frames' pixels; "
                             "--person boxes stay in the footage's own pixels)")
    parser.add_argument("--max-people", type=int, default=None, help="track at most N people")
    parser.add_argument("--person", action="append", default=[], metavar="X0,Y0,X1,Y1@FRAME",
                        help="box around a person the detectors miss, on source frame FRAME (repeatable)")
    parser.add_argument("--drop-id", type=int, action="append", default=[], metavar="ID",
                        help="leave out the person with this track id (repeatable)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="video file, image, or folder of images")
    parser.add_argument("-o", "--output", required=True, help="keypoints file to write (.npz)")
    add_range_and_people_arguments(parser)
    parser.add_argument("--no-hands", action="store_true", help="skip the hand model")
    parser.add_argument("--no-face", action="store_true", help="skip the face mesh")
    parser.add_argument("--full-hands", action="store_true",
                        help="use the full hand landmark model (more accurate fingers, about 2x slower)")


def options_from_args(args: argparse.Namespace) -> DetectOptions:
    """DetectOptions from parsed arguments (InputError for bad values)."""
    options = DetectOptions(max_people=args.max_people,
                            prompts=[BoxPrompt.parse(text) for text in args.person],
                            drop_ids=list(args.drop_id), hands=not args.no_hands, face=not args.no_face,
                            hand_complexity=1 if args.full_hands else 0)
    options.check()
    return options


def run(args: argparse.Namespace, progress: Progress) -> int:
    from core.checkpoint import check_output_folder
    from core.footage import open_footage

    options = options_from_args(args)
    output = Path(args.output)
    if output.suffix.lower() != ".npz":
        raise InputError(f"output {output} must end in .npz")
    check_output_folder(output)  # before minutes of work, not after
    with open_footage(args.input, start=args.start, end=args.end, stride=args.stride,
                      mirror=args.mirrored) as footage:
        progress.info(footage.summary)
        keypoints = detect_keypoints(footage, options, progress)
    for prompt in options.prompts:
        if keypoints.num_frames and prompt.frame > int(keypoints.frame_index[-1]):
            progress.info(f"box prompt on frame {prompt.frame} is after the last frame processed; ignored")
    save_keypoints(keypoints, output)
    people = len(keypoints.people)
    seconds = sum(v for k, v in keypoints.timings.items() if k in ("decode", "detect", "track", "landmarks"))
    fps = keypoints.num_frames / seconds if seconds > 0 else 0.0
    if people == 0:
        progress.info("nobody found: the keypoints file is valid but empty (add a person with "
                      "--person X0,Y0,X1,Y1@FRAME)")
    progress.info(f"{keypoints.num_frames} frames, {people} people (ids "
                  f"{', '.join(str(i) for i in keypoints.person_ids) or '-'}), {fps:.1f} frames/s")
    progress.done(str(output), frames=keypoints.num_frames, people=people,
                  person_ids=[int(i) for i in keypoints.person_ids])
    return 0
