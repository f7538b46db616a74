"""Fitting speed: milliseconds per person-frame (lift + focal + place), CPU unless --device.

    .venv/worker/bin/python bench/bench_fit.py [--frames 120] [--people 1] [--keypoints FILE] [--device cpu]
        [--compare]

Synthetic problems are posed through the real mannequin-x body model and projected
through a known camera (so the work is the real work); ``--keypoints`` times a real
keypoints file instead. The fit runs single-threaded on CPU (see core.fit.body).
``--compare`` also times, interleaved in the same run, the fit with the plain-autograd body
model (rotations, forward kinematics gathered level by level, markers from the transforms:
no hand-written gradients) and prints the ratio, which stays meaningful on a busy machine
where absolute times do not.
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
from models import kinematics as kin  # noqa: E402
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


def autograd_rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """Reference for ``--compare``: Rodrigues (:func:`models.kinematics.axis_angle_to_matrix`)
    through autograd, element by element."""
    theta_sq = (axis_angle * axis_angle).sum(-1)
    small = theta_sq < 1e-6
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta_sq), theta_sq))
    a = torch.where(small, 1.0 - theta_sq / 6.0 + theta_sq * theta_sq / 120.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta_sq / 24.0 + theta_sq * theta_sq / 720.0,
                    (1.0 - torch.cos(theta)) / (theta * theta))
    c = 1.0 - b * theta_sq
    x, y, z = axis_angle.unbind(-1)
    m = (c + b * x * x, b * x * y - a * z, b * x * z + a * y,
         b * x * y + a * z, c + b * y * y, b * y * z - a * x,
         b * x * z - a * y, b * y * z + a * x, c + b * z * z)
    return torch.stack(m, dim=-1).reshape(*axis_angle.shape[:-1], 3, 3)


def autograd_posed_points(root_rotation: torch.Tensor, axis_angles: torch.Tensor, rest_joints: torch.Tensor,
                          parents, transl, point_joints, point_offsets: torch.Tensor
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference for ``--compare``: :func:`models.kinematics.posed_points` through autograd
    (Rodrigues element by element, joints gathered level by level, rotations and positions
    apart, markers from the world transforms)."""
    rotations = torch.cat((root_rotation[:, None], autograd_rodrigues(axis_angles)), 1)
    batch, num = rotations.shape[0], rotations.shape[1]
    rest = rest_joints.expand(batch, num, 3)
    parent_idx = torch.as_tensor(list(parents), device=rotations.device)
    offsets = rest - torch.cat((torch.zeros_like(rest[:, :1]), rest[:, parent_idx[1:]]), dim=1)
    if transl is not None:
        offsets = torch.cat((offsets[:, :1] + transl[:, None], offsets[:, 1:]), dim=1)
    world_rot: list = [None] * num
    world_pos: list = [None] * num
    world_rot[0], world_pos[0] = rotations[:, 0], offsets[:, 0]
    for level in kin.kinematic_levels(parents)[1:]:
        idx = torch.as_tensor(level, device=rotations.device)
        prot = torch.stack([world_rot[parents[j]] for j in level], dim=1)
        ppos = torch.stack([world_pos[parents[j]] for j in level], dim=1)
        rot = prot @ rotations[:, idx]
        pos = ppos + (prot @ offsets[:, idx, :, None])[..., 0]
        for k, j in enumerate(level):
            world_rot[j], world_pos[j] = rot[:, k], pos[:, k]
    world = torch.cat((torch.stack(world_rot, 1), torch.stack(world_pos, 1)[..., None]), -1)
    g = world[:, torch.as_tensor(np.asarray(point_joints))]
    local = point_offsets if point_offsets.dim() == 3 else point_offsets[None]
    return world, (g[..., :3] @ local[..., None])[..., 0] + g[..., 3]


def time_fit(people, size, fps, model, device: str,
             horizon: np.ndarray | None = None) -> tuple[float, float, dict[str, float]]:
    """(wall s, CPU s, seconds by stage) of one fit (``horizon``: the keypoints file's, if any)."""
    start, cpu = time.perf_counter(), time.process_time()
    clip = fit_clip(people, size, fps, model, FitOptions(device=device), horizon=horizon)
    return time.perf_counter() - start, time.process_time() - cpu, clip.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--people", type=int, default=1)
    parser.add_argument("--keypoints", default=None, help="time a real keypoints file instead")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--compare", action="store_true",
                        help="also time the fit with the plain-autograd body model (interleaved)")
    args = parser.parse_args()
    model = load_body_model("mannequin-x", device=args.device)
    if args.keypoints:
        from core.keypoints_file import load_keypoints

        kp = load_keypoints(args.keypoints)
        arrays = kp.to_arrays()
        people = [observations_from_keypoints(arrays, i) for i in range(len(kp.people))]
        size, fps, horizon = tuple(kp.image_size), float(kp.fps), kp.horizon
    else:
        people = [synthetic_person(model, args.frames, seed=i) for i in range(args.people)]
        size, fps, horizon = SIZE, 30.0, None
    person_frames = sum(int(p.valid.sum()) for p in people)
    best, best_cpu, first = float("inf"), float("inf"), 0.0
    ref, ref_cpu = float("inf"), float("inf")
    ours = kin.posed_points
    for k in range(args.repeat):
        wall, cpu, seconds = time_fit(people, size, fps, model, args.device, horizon)
        best, best_cpu = min(best, wall), min(best_cpu, cpu)
        if k == 0:  # what one capture (one worker process) pays, one-time imports and warm-up included
            first = wall
        if args.compare:
            kin.posed_points = autograd_posed_points
            try:
                wall, cpu, _ = time_fit(people, size, fps, model, args.device, horizon)
            finally:
                kin.posed_points = ours
            ref, ref_cpu = min(ref, wall), min(ref_cpu, cpu)
    per = 1000 / person_frames
    stages = ", ".join(f"{k} {v * per:.1f}" for k, v in seconds.items())
    print(f"fit: {len(people)} people x {people[0].num_frames} frames, {person_frames} person-frames, "
          f"best of {args.repeat}: {best:.2f} s = {best * per:.1f} ms per person-frame "
          f"(CPU time {best_cpu * per:.1f} ms; first run {first * per:.1f} ms; "
          f"last run by stage, ms/person-frame: {stages}); "
          f"device {args.device}")
    if args.compare:
        print(f"plain-autograd body model, same run: {ref * per:.1f} ms per person-frame "
              f"(CPU time {ref_cpu * per:.1f} ms); ours / plain: wall {best / ref:.2f}, "
              f"CPU {best_cpu / ref_cpu:.2f}")


if __name__ == "__main__":
    main()
