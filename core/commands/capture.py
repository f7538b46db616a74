"""``python -m core capture INPUT -o motion.npz``: footage (or keypoints) -> SMPL-X motion file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from core.commands.detect import add_range_and_people_arguments
from core.errors import InputError
from core.progress import Progress
from models.smplx_files import GENDERS

if TYPE_CHECKING:
    from core.fit.body import FitOptions

HELP = "detect people and fit SMPL-X pose, shape, placement and camera focal; write a motion file (.npz)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="video file, image, folder of images, or a keypoints .npz from 'detect'")
    parser.add_argument("-o", "--output", required=True, help="motion file to write (.npz)")
    cam = parser.add_argument_group("camera (default: focal estimated from the people's perspective)")
    cam.add_argument("--focal-mm", type=float, default=None, help="lens focal length in mm")
    cam.add_argument("--sensor-mm", type=float, default=None,
                     help="sensor width in mm (with --focal-mm; default 36, full frame)")
    cam.add_argument("--fov-deg", type=float, default=None, help="horizontal field of view in degrees")
    parser.add_argument("--no-hands", action="store_true", help="no finger fitting (and no hand model)")
    parser.add_argument("--no-face", action="store_true", help="no face mesh (jaw stays closed)")
    parser.add_argument("--full-hands", action="store_true",
                        help="use the full hand landmark model (more accurate fingers, about 2x slower)")
    parser.add_argument("--smoothing", type=float, default=1.0,
                        help="temporal smoothing strength, 0 = off (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    body = parser.add_argument_group("body model (default: the bundled mannequin-x body, no expression)")
    body.add_argument("--smplx-dir", default=None, metavar="DIR",
                      help="folder with the official SMPL-X model files (SMPLX_NEUTRAL.npz, ...; "
                           "registration at smpl-x.is.tue.mpg.de, never bundled): fit SMPL-X itself, with "
                           "expression coefficients from the face landmarks")
    body.add_argument("--gender", choices=GENDERS, default=None,
                      help="which SMPL-X model of --smplx-dir to use (default neutral)")
    hands = parser.add_argument_group("hands only (footage of hands, no body: MANO hands instead of SMPL-X)")
    hands.add_argument("--hands-only", action="store_true",
                       help="find hands without a body (palm detector) and fit one MANO hand per side; "
                            "needs --mano-dir")
    hands.add_argument("--mano-dir", default=None, metavar="DIR",
                       help="folder with the official MANO files (MANO_RIGHT.pkl, MANO_LEFT.pkl; "
                            "registration at mano.is.tue.mpg.de, never bundled)")
    add_range_and_people_arguments(parser)


def fit_options_from_args(args: argparse.Namespace) -> "FitOptions":
    """FitOptions from parsed arguments (the user's focal is resolved once the image width is known)."""
    from core.fit.body import FitOptions

    if args.smoothing < 0:
        raise InputError(f"--smoothing must be 0 or more, got {args.smoothing}")
    if (args.fov_deg is not None) and (args.focal_mm is not None or args.sensor_mm is not None):
        raise InputError("give either --fov-deg or --focal-mm (with --sensor-mm), not both")
    if args.sensor_mm is not None and args.focal_mm is None:
        raise InputError("--sensor-mm needs --focal-mm")
    from core.capture import resolve_device

    return FitOptions(hands=not args.no_hands, face=not args.no_face, smoothing=args.smoothing,
                      device=resolve_device(args.device))


def run(args: argparse.Namespace, progress: Progress) -> int:
    from core.capture import UserCamera, capture, is_keypoints_file, load_capture_model, write_result
    from core.commands.detect import options_from_args
    from core.fit.focal import user_focal

    output = Path(args.output)
    if output.suffix.lower() != ".npz":
        raise InputError(f"output {output} must end in .npz")
    if not Path(args.input).exists():
        raise InputError(f"{args.input}: no such file or folder")
    options = fit_options_from_args(args)
    if args.hands_only or args.mano_dir is not None:
        return run_hands_only(args, options, output, progress)
    if args.gender is not None and args.smplx_dir is None:
        raise InputError("--gender needs --smplx-dir (the mannequin-x body has one shape model)")
    if args.smplx_dir is not None and not args.smplx_dir.strip():
        raise InputError("--smplx-dir is empty; give the folder holding SMPLX_NEUTRAL.npz, or leave it out")
    model = load_capture_model(args.smplx_dir, args.gender or "neutral", options.device, progress)
    camera = None
    if args.fov_deg is not None or args.focal_mm is not None:
        user_focal(1000.0, args.focal_mm, args.sensor_mm, args.fov_deg)  # clear errors before detection
        camera = UserCamera(args.focal_mm, args.sensor_mm, args.fov_deg)
    detect_options = None if is_keypoints_file(args.input) else options_from_args(args)
    checkpoints = None
    if detect_options is not None:  # detection resumes from <output>.partial/ (core/checkpoint.py)
        from core.checkpoint import open_checkpoints

        checkpoints = open_checkpoints(output, args.input, detect_options, args.start, args.end, args.stride,
                                       args.mirrored)
    try:
        result = capture(args.input, options, progress, detect_options, start=args.start, end=args.end,
                         stride=args.stride, model=model, camera=camera, checkpoints=checkpoints,
                         mirror=args.mirrored)
    except InputError:
        if checkpoints is not None:  # the input itself is the problem: nothing worth resuming
            checkpoints.finish()
        raise
    path = write_result(result, output, progress)
    if checkpoints is not None:
        checkpoints.finish()
    fit = result.fit
    progress.done(str(path), frames=int(result.keypoints.num_frames), people=len(fit.people),
                  person_ids=[p.track_id for p in fit.people], focal_px=fit.focal.focal_px,
                  focal_std_px=fit.focal.std_px, focal_source=fit.focal.source, body_model=model.name,
                  expression_source=str(result.arrays["expression_source"]),
                  seconds={k: round(v, 3) for k, v in result.seconds.items()})
    return 0


def run_hands_only(args: argparse.Namespace, options: "FitOptions", output: Path, progress: Progress) -> int:
    """``--hands-only --mano-dir DIR``: hands without a body -> a MANO (``subject = hands``) motion file."""
    from core.capture import UserCamera, is_keypoints_file
    from core.fit.focal import user_focal
    from core.hands_only import capture_hands, load_hand_models
    from core.motion import write_motion

    if not args.hands_only:
        raise InputError("--mano-dir is for hands-only footage: add --hands-only (or leave --mano-dir out)")
    if args.mano_dir is None or not args.mano_dir.strip():
        raise InputError("--hands-only needs --mano-dir DIR, the folder holding MANO_RIGHT.pkl and "
                         "MANO_LEFT.pkl")
    if args.smplx_dir is not None or args.gender is not None:
        raise InputError("--hands-only fits MANO hands: leave out --smplx-dir and --gender")
    if args.person or args.drop_id or args.max_people is not None:
        raise InputError("--person, --drop-id and --max-people choose people; --hands-only has no people")
    if is_keypoints_file(args.input):
        raise InputError("--hands-only runs on footage, not on a keypoints file")
    progress.info(f"loading the official MANO hands from {args.mano_dir}")
    models = load_hand_models(args.mano_dir, options.device)
    camera = None
    if args.fov_deg is not None or args.focal_mm is not None:
        user_focal(1000.0, args.focal_mm, args.sensor_mm, args.fov_deg)  # clear errors before detection
        camera = UserCamera(args.focal_mm, args.sensor_mm, args.fov_deg)
    arrays, found, seconds = capture_hands(args.input, models, progress, camera=camera,
                                           smoothing=options.smoothing, start=args.start, end=args.end,
                                           stride=args.stride, mirror=args.mirrored)
    progress.stage("write", 1)
    write_motion(output, arrays)
    progress.update(1)
    sides = [str(arrays[f"p{i}/side"]) for i in range(len(arrays["person_ids"]))]
    progress.done(str(output), frames=found.num_frames, hands=sides,
                  hands_found={side: int(found.found(side).sum()) for side in ("left", "right")},
                  focal_px=float(arrays["camera_focal_px"][0]),
                  focal_source=str(arrays["camera_focal_source"]),
                  body_model="mano", seconds={k: round(v, 3) for k, v in seconds.items()})
    return 0
