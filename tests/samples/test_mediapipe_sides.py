"""A real keypoint model reads the rendered figures the right way round.

Faceless figures are read as seen from behind (every left/right landmark swapped);
the samples' figures have eyes, brows, nose and mouth, so MediaPipe Pose must put
the person's left wrist/shoulder/hip on the true left joints.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

# MediaPipe Pose landmark -> SMPL-X joint (the person's own left/right)
PAIRS = {"shoulder": ((11, 16), (12, 17)), "wrist": ((15, 20), (16, 21)), "hip": ((23, 1), (24, 2))}


def _frames(path, wanted: list[int]) -> dict[int, np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out, t = {}, 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if t in wanted:
            out[t] = frame
        t += 1
    cap.release()
    return out


@pytest.mark.parametrize("name,frames", [("default", [5, 25, 40, 62, 70, 78, 86]),
                                         ("closeup_24mm", [10, 30, 45]),
                                         ("hands_clap_35mm", [5, 30, 50, 75])])
def test_mediapipe_pose_sees_left_and_right_the_right_way_round(load_sample, name: str,
                                                                 frames: list[int]) -> None:
    import mediapipe as mp

    s = load_sample(name)
    uv = s.project(s.truth["p0/joints_cam"].astype(np.float64))
    images = _frames(s.folder / "footage.mp4", frames)
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1) as pose:
        for t in frames:
            h, w = images[t].shape[:2]
            result = pose.process(cv2.cvtColor(images[t], cv2.COLOR_BGR2RGB))
            assert result.pose_landmarks is not None, f"{name} frame {t}: no person found"
            lm = np.array([(p.x * w, p.y * h, p.visibility) for p in result.pose_landmarks.landmark])
            for part, ((lm_left, j_left), (lm_right, j_right)) in PAIRS.items():
                if not (0 <= uv[t, j_left, 1] < h and 0 <= uv[t, j_right, 1] < h):
                    continue            # out of the picture (upper-body framing)
                left, right = lm[lm_left, :2], lm[lm_right, :2]
                straight = np.linalg.norm(left - uv[t, j_left]) + np.linalg.norm(right - uv[t, j_right])
                swapped = np.linalg.norm(left - uv[t, j_right]) + np.linalg.norm(right - uv[t, j_left])
                assert straight < swapped, f"{name} frame {t}: {part} left/right swapped"
            # and the wrists are close to the truth (figure height as the scale)
            size = np.ptp(uv[t, :22, 1])
            err = np.linalg.norm(lm[[15, 16], :2] - uv[t, [20, 21]], axis=1)
            assert err.max() < 0.35 * size, f"{name} frame {t}: wrist error {err} px (figure {size:.0f} px)"


def test_mediapipe_hands_finds_the_hands_of_the_clap(load_sample) -> None:
    """Hands have enough contrast for a real hand model: found near a true wrist in most frames."""
    import mediapipe as mp

    s = load_sample("hands_clap_35mm")
    uv = s.project(s.truth["p0/joints_cam"].astype(np.float64))
    frames = [0, 5, 10, 25, 30, 45, 50, 70, 80]
    images = _frames(s.folder / "footage.mp4", frames)
    found = 0
    with mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=1) as hands:
        for t in frames:
            h, w = images[t].shape[:2]
            result = hands.process(cv2.cvtColor(images[t], cv2.COLOR_BGR2RGB))
            for lm in result.multi_hand_landmarks or []:
                wrist = np.array([lm.landmark[0].x * w, lm.landmark[0].y * h])
                assert np.linalg.norm(uv[t, [20, 21]] - wrist, axis=1).min() < 20, f"frame {t}: not on a hand"
                found += 1
    assert found >= len(frames), f"{found} hands in {len(frames)} frames"
