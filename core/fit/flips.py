"""Left/right body flips: MediaPipe sometimes reads a person mirrored (as if seen
from behind) for a few frames, swapping every left/right landmark label.

Repair is a two-state Viterbi over the clip: state 1 means "this frame is mirrored".
The cost of a transition is how far the (relabelled) landmarks jump between
consecutive frames, relative to the person's size; a small per-frame cost on
state 1 breaks the tie of the whole-clip relabelling in favour of the detector's
own labels. Mirrored frames get their left/right labels swapped (2D, 3D, hands) and
their 3D landmarks reflected in depth (z -> -z about the hips), which turns the
"seen from behind" reading into the consistent facing one.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.fit.observations import PersonObservations

_PAIRS = ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
          (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32))
MIRROR = np.arange(33)
for _a, _b in _PAIRS:
    MIRROR[_a], MIRROR[_b] = _b, _a
STAY_COST = 0.02
"""Per-frame cost (in person sizes) of declaring a frame mirrored."""


def _scale(points: np.ndarray, conf: np.ndarray) -> np.ndarray:
    w = np.clip(conf, 0, 1)
    wsum = np.clip(w.sum(1, keepdims=True), 1e-6, None)
    centre = (w[..., None] * points).sum(1) / wsum
    return np.sqrt(np.clip((w * ((points - centre[:, None]) ** 2).sum(-1)).sum(1) / wsum[:, 0], 1.0, None))


def mirrored_frames(obs: PersonObservations, min_conf: float = 0.3) -> np.ndarray:
    """(T,) bool: frames whose left/right labels are judged swapped."""
    T = obs.num_frames
    seen = np.nonzero(obs.valid)[0]
    out = np.zeros(T, bool)
    if len(seen) < 3:
        return out
    x = obs.body_2d[seen].astype(np.float64)
    c = np.where(obs.body_conf[seen] >= min_conf, obs.body_conf[seen], 0.0)
    scale = _scale(x, c)
    views = [x, x[:, MIRROR]]
    confs = [c, c[:, MIRROR]]
    n = len(seen)
    cost = np.zeros((n, 2))
    back = np.zeros((n, 2), np.int64)
    cost[0] = (0.0, STAY_COST)
    for t in range(1, n):
        s = 0.5 * (scale[t] + scale[t - 1])
        for cur in range(2):
            trans = []
            for prev in range(2):
                w = confs[cur][t] * confs[prev][t - 1]
                d = np.linalg.norm(views[cur][t] - views[prev][t - 1], axis=-1)
                trans.append(cost[t - 1, prev] + float((w * d).sum() / max(w.sum(), 1e-6)) / s)
            back[t, cur] = int(np.argmin(trans))
            cost[t, cur] = min(trans) + (STAY_COST if cur else 0.0)
    state = int(np.argmin(cost[-1]))
    for t in range(n - 1, -1, -1):
        out[seen[t]] = bool(state)
        state = back[t, state]
    return out


def repair_body_flips(obs: PersonObservations) -> tuple[PersonObservations, int]:
    """Relabel mirrored frames (see module docstring). Returns (copy, frames repaired)."""
    flip = mirrored_frames(obs)
    if not flip.any():
        return obs, 0
    b2, b3, bc = obs.body_2d.copy(), obs.body_3d.copy(), obs.body_conf.copy()
    b2[flip] = b2[flip][:, MIRROR]
    bc[flip] = bc[flip][:, MIRROR]
    mirrored3d = b3[flip][:, MIRROR]
    hips = mirrored3d[:, [23, 24]].mean(1, keepdims=True)
    mirrored3d[..., 2] = 2 * hips[..., 2] - mirrored3d[..., 2]
    b3[flip] = mirrored3d
    h2, h3, hc = obs.hand_2d.copy(), obs.hand_3d.copy(), obs.hand_conf.copy()
    for arr in (h2, h3, hc):
        arr[:, flip] = arr[::-1][:, flip]
    return replace(obs, body_2d=b2, body_3d=b3, body_conf=bc, hand_2d=h2, hand_3d=h3, hand_conf=hc), int(flip.sum())
