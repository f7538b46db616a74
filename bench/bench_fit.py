"""Fitting speed: milliseconds per person-frame (lift + focal + place), CPU unless --device.

    .venv/worker/bin/python bench/bench_fit.py [--frames 120] [--people 1] [--keypoints FILE] [--device cpu]

Synthetic problems are posed through the real mannequin-x body model and projected
through a known camera (so the work is the real work); ``--keypoints`` times a real
keypoints file instead. The fit runs single-threaded on CPU (see core.fit.body).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.fit.body import FitOptions, fit_clip  # noqa: E402
from core.fit.observations import PersonObservations, observations_from_keypoints  # noqa: E402
from models.body import load_body_model  # noqa: E402
from models.keypoints import LEFT_HAND_MAP, POSE_MAP, RIGHT_HAND_MAP  # noqa: E402
from models.kinematics import axis_angle_to_matrix_np, matrix_to_axis_angle_np  # noqa: E402

SIZE = (1280, 720)


def synthetic_person(model, frames: int, seed: int, focal: float = 1000.0) -> PersonObservations:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, frames)
    go = matrix_to_axis_angle_np(axis_angle_to_matrix_np(np.stack([0 * t, 0.8 * t, 0 * t], -1))
                                 @ axis_angle_to_matrix_np(np.array([np.pi, 0, 0])))
    body = rng.normal(0, 0.1, (1, 21, 3)) + 0.4 * np.sin(8 * t)[:, None, None] * rng.normal(0, 1, (1, 21, 3))
    hands = 0.3 * np.sin(5 * t)[None, :, None, None] * rng.normal(0, 1, (2, 1, 15, 3))
    transl = np.stack([rng.uniform(-1, 1) + 0 * t, 0.2 + 0 * t, 3.0 + t], -1)
    f32 = lambda a: torch.as_tensor(np.asarray(a, np.float32))  # noqa: E731
    with torch.no_grad():
        out = model(torch.zeros(frames, 10), f32(go), f32(body), f32(hands[0]), f32(hands[1]),
                    torch.zeros(frames, 3), f32(transl))
        rest = model.rest_joints(torch.zeros(1, 10))
        pts = POSE_MAP.scatter(POSE_MAP.points(out.transforms, rest).numpy(), 33)   # NaN: unmapped
        hm = np.stack([m.points(out.transforms, rest).numpy() for m in (LEFT_HAND_MAP, RIGHT_HAND_MAP)])
    c = np.array(SIZE) / 2
    proj = lambda p: focal * p[..., :2] / p[..., 2:3] + c + rng.normal(0, 2.0, p.shape[:-1] + (2,))  # noqa: E731
    return PersonObservations(
        track_id=seed, valid=np.ones(frames, bool), body_2d=proj(pts).astype(np.float32),
        body_3d=(pts - pts[:, [23, 24]].mean(1, keepdims=True) + rng.normal(0, 0.02, pts.shape)).astype(np.float32),
        body_conf=np.ones((frames, 33), np.float32), hand_2d=proj(hm).astype(np.float32),
        hand_3d=(hm - hm.mean(2, keepdims=True)).astype(np.float32), hand_conf=np.ones((2, frames, 21), np.float32),
        face_2d=None, face_conf=np.zeros(frames, np.float32)).sanitized()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--people", type=int, default=1)
    parser.add_argument("--keypoints", default=None, help="time a real keypoints file instead")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    model = load_body_model("mannequin-x", device=args.device)
    if args.keypoints:
        from core.keypoints_file import load_keypoints

        kp = load_keypoints(args.keypoints)
        arrays = kp.to_arrays()
        people = [observations_from_keypoints(arrays, i) for i in range(len(kp.people))]
        size, fps = tuple(kp.image_size), float(kp.fps)
    else:
        people = [synthetic_person(model, args.frames, seed=i) for i in range(args.people)]
        size, fps = SIZE, 30.0
    person_frames = sum(int(p.valid.sum()) for p in people)
    best, best_cpu, first = float("inf"), float("inf"), 0.0
    for k in range(args.repeat):
        start, cpu = time.perf_counter(), time.process_time()
        clip = fit_clip(people, size, fps, model, FitOptions(device=args.device))
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        if k == 0:  # what one capture (one worker process) pays, one-time imports and warm-up included
            first = time.perf_counter() - start
    stages = ", ".join(f"{k} {v * 1000 / person_frames:.1f}" for k, v in clip.seconds.items())
    print(f"fit: {len(people)} people x {people[0].num_frames} frames, {person_frames} person-frames, "
          f"best of {args.repeat}: {best:.2f} s = {best * 1000 / person_frames:.1f} ms per person-frame "
          f"(CPU time {best_cpu * 1000 / person_frames:.1f} ms; first run {first * 1000 / person_frames:.1f} ms; last run by stage, ms/person-frame: {stages}); "
          f"device {args.device}")


if __name__ == "__main__":
    main()
