"""What the fitter sees of one tracked person: landmarks, confidences, validity.

Built from the arrays of a ``video-mocap-keypoints/1`` file (docs/formats.md).
Everything is numpy float32; unknown values are 0 with confidence 0, and any
non-finite value that slipped through is zeroed with its confidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class PersonObservations:
    """Landmarks of one person over T frames.

    Attributes:
        track_id: stable id of the track.
        valid: (T,) bool, the person was tracked in the frame.
        body_2d: (T, 33, 2) px; body_3d: (T, 33, 3) m (hip-centred, camera-aligned axes);
        body_conf: (T, 33) 0..1.
        hand_2d: (2, T, 21, 2) px, [left, right] anatomical hands; hand_3d: (2, T, 21, 3) m;
        hand_conf: (2, T, 21).
        face_2d: (T, 468, 3) px (x, y, relative z) or None; face_conf: (T,).
    """

    track_id: int
    valid: np.ndarray
    body_2d: np.ndarray
    body_3d: np.ndarray
    body_conf: np.ndarray
    hand_2d: np.ndarray
    hand_3d: np.ndarray
    hand_conf: np.ndarray
    face_2d: np.ndarray | None = None
    face_conf: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    @property
    def num_frames(self) -> int:
        return int(self.valid.shape[0])

    def sanitized(self) -> PersonObservations:
        """A copy with non-finite values zeroed (and their confidence set to 0)."""
        def clean(points: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            points = np.asarray(points, np.float32)
            bad = ~np.isfinite(points).all(-1)
            conf = np.where(bad | ~np.isfinite(conf), 0.0, np.clip(conf, 0.0, 1.0)).astype(np.float32)
            return np.where(bad[..., None], 0.0, points).astype(np.float32), conf

        b2, bc = clean(self.body_2d, self.body_conf)
        b3, bc3 = clean(self.body_3d, bc)
        h2, hc = clean(self.hand_2d, self.hand_conf)
        h3, hc3 = clean(self.hand_3d, hc)
        bc = np.minimum(bc, bc3)
        hc = np.minimum(hc, hc3)
        valid = np.asarray(self.valid, bool) & (bc.sum(-1) > 0)
        bc = bc * valid[:, None]
        face, fconf = self.face_2d, self.face_conf
        if face is not None:
            face = np.asarray(face, np.float32)
            bad = ~np.isfinite(face).all(axis=(-1, -2))
            face = np.where(np.isfinite(face), face, 0.0).astype(np.float32)
            fconf = np.where(bad | ~valid, 0.0, np.nan_to_num(np.asarray(fconf, np.float32)))
        return replace(self, valid=valid, body_2d=b2, body_3d=b3, body_conf=bc, hand_2d=h2,
                       hand_3d=h3, hand_conf=hc, face_2d=face,
                       face_conf=np.asarray(fconf, np.float32))


def observations_from_keypoints(arrays: Mapping[str, np.ndarray], index: int) -> PersonObservations:
    """Person ``index`` (position in ``person_ids``) of a keypoints file's arrays."""
    p = f"p{index}/"
    valid = np.asarray(arrays[p + "valid"], bool)
    num = valid.shape[0]

    def get(key: str, shape: tuple[int, ...]) -> np.ndarray:
        if p + key in arrays:
            return np.asarray(arrays[p + key], np.float32)
        return np.zeros((num, *shape), np.float32)

    hand_2d = np.stack([get("left_hand_2d", (21, 2)), get("right_hand_2d", (21, 2))])
    hand_3d = np.stack([get("left_hand_3d", (21, 3)), get("right_hand_3d", (21, 3))])
    hand_conf = np.stack([get("left_hand_conf", (21,)), get("right_hand_conf", (21,))])
    face = np.asarray(arrays[p + "face_2d"], np.float32) if p + "face_2d" in arrays else None
    obs = PersonObservations(
        track_id=int(np.asarray(arrays["person_ids"])[index]), valid=valid,
        body_2d=get("body_2d", (33, 2)), body_3d=get("body_3d", (33, 3)),
        body_conf=get("body_conf", (33,)), hand_2d=hand_2d, hand_3d=hand_3d, hand_conf=hand_conf,
        face_2d=face, face_conf=get("face_conf", ()))
    return obs.sanitized()


def align_to_view_rays(obs: PersonObservations, focal: float, center: np.ndarray) -> PersonObservations:
    """Turn the crop-aligned 3D landmarks into camera axes.

    The landmark networks see a crop around the person and report 3D in axes parallel to
    the image, as if the person sat on the optical axis. A person off to the side is seen
    along a tilted ray, so their true camera-frame orientation is the reported one turned
    by the rotation taking the optical axis (0, 0, 1) onto that ray (through the hips for
    the body, the wrist for each hand).

    Args: focal px; center (2,) px. Returns a copy with ``body_3d`` and ``hand_3d`` rotated.
    """
    from core.fit.init import rotation_between

    def rotate(points: np.ndarray, anchor_px: np.ndarray) -> np.ndarray:
        ray = np.concatenate([anchor_px - center, np.full((len(anchor_px), 1), focal)], -1)
        rot = rotation_between(np.tile([0.0, 0.0, 1.0], (len(ray), 1)), ray)
        return np.einsum("tij,tkj->tki", rot, points).astype(np.float32)

    hips = obs.body_2d[:, [23, 24]].mean(1).astype(np.float64)
    body_3d = rotate(obs.body_3d.astype(np.float64), hips)
    hand_3d = np.stack([rotate(obs.hand_3d[s].astype(np.float64), obs.hand_2d[s][:, 0].astype(np.float64))
                        for s in range(2)])
    return replace(obs, body_3d=body_3d, hand_3d=hand_3d)


def off_heading_frames(obs: PersonObservations, window: int = 15, max_deg: float = 60.0) -> np.ndarray:
    """(T,) bool: seen frames whose 3D torso faces more than ``max_deg`` away from the rest of
    the seen frames within ``window`` frames (their mean facing, confidence weighted).

    The facing is the yaw of the torso's left-right axis (hips plus shoulders) in the camera's
    x-z plane. People turn smoothly; a few frames turned far from both sides' facing are a
    misread (typically landmarks taken from a nearer person walking past in front)."""
    b = obs.body_3d.astype(np.float64)
    side = (b[:, 23] - b[:, 24]) + (b[:, 11] - b[:, 12])
    yaw = np.arctan2(side[:, 2], side[:, 0])
    conf = obs.body_conf[:, [11, 12, 23, 24]].min(1).astype(np.float64) * obs.valid
    unit = np.stack([np.cos(yaw), np.sin(yaw)], 1)
    out = np.zeros(obs.num_frames, bool)
    cos_max = np.cos(np.radians(max_deg))
    for t in np.nonzero(obs.valid)[0]:
        lo, hi = max(0, t - window), min(obs.num_frames, t + window + 1)
        w = conf[lo:hi].copy()
        w[t - lo] = 0.0
        if w.sum() < 3.0:
            continue
        mean = (w[:, None] * unit[lo:hi]).sum(0)
        norm = np.linalg.norm(mean)
        if norm < 0.5 * w.sum():          # the neighbours disagree among themselves: no verdict
            continue
        out[t] = unit[t] @ (mean / norm) < cos_max
    return out


def downweight_frames(obs: PersonObservations, frames: np.ndarray, factor: float) -> PersonObservations:
    """Copy with the body and hand confidences of ``frames`` (T,) bool multiplied by ``factor``
    (the frames stay valid: the fit still places the person there, led by the neighbours)."""
    if not frames.any():
        return obs
    scale = np.where(frames, factor, 1.0).astype(np.float32)
    return replace(obs, body_conf=obs.body_conf * scale[:, None],
                   hand_conf=obs.hand_conf * scale[None, :, None])


def gap_edge_frames(valid: np.ndarray, reach: int) -> np.ndarray:
    """(T,) bool -> (T,) bool: seen frames within ``reach`` frames of an unseen span inside the
    clip (not the clip's ends). A person is lost mostly while someone passes in front; the
    frames on either side of that are half occluded, and their landmarks are often taken from
    the other person or mirrored (measured on three_people_50mm's far walker: median 2D error
    11-21 px next to a gap against 2-5 px elsewhere, at confidences 0.5-0.7)."""
    valid = np.asarray(valid, bool)
    out = np.zeros_like(valid)
    seen = np.nonzero(valid)[0]
    if len(seen) < 2 or reach <= 0:
        return out
    inside = np.zeros_like(valid)
    inside[seen[0]:seen[-1] + 1] = True
    gap = inside & ~valid
    for d in range(1, reach + 1):
        out[:-d] |= gap[d:]
        out[d:] |= gap[:-d]
    return out & valid
