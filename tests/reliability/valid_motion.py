"""Write a valid ``video-mocap-motion/1`` file with the real writer (core.motion.write_motion).

Run with the worker's Python: ``.venv/worker/bin/python tests/reliability/valid_motion.py OUT.npz
[FRAMES]``. The reliability tests (worker and Blender side) damage copies of this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from core.motion import CameraParams, PersonParams, body_motion, write_motion  # noqa: E402
from models.body import load_body_model  # noqa: E402


def make(path: Path, frames: int = 12) -> Path:
    """Two people, smooth random poses (radians), 4 m in front of the camera."""
    rng = np.random.default_rng(7)
    people = []
    for track_id in (1, 2):
        t = np.linspace(0, 1, frames)[:, None]
        people.append(PersonParams(
            track_id=track_id, betas=rng.normal(0, 0.5, 10), global_orient=np.tile([np.pi, 0, 0], (frames, 1)),
            body_pose=0.2 * np.sin(6 * t[:, :, None] + rng.normal(0, 1, (1, 21, 3))),
            left_hand_pose=np.zeros((frames, 15, 3)), right_hand_pose=np.zeros((frames, 15, 3)),
            jaw_pose=np.zeros((frames, 3)), transl=np.array([track_id - 1.5, 0.0, 4.0]) + 0.1 * t,
            valid=np.ones(frames, bool), confidence=np.full(frames, 0.9)))
    data = body_motion(people, load_body_model("mannequin-x"), fps=25.0, image_size=(640, 480),
                       frame_index=np.arange(frames), camera=CameraParams((800.0, 800.0), (320.0, 240.0)),
                       source="footage.mp4")
    write_motion(path, data)
    return path


if __name__ == "__main__":
    make(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 12)
