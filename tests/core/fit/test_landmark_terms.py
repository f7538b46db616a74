"""The fitter's landmark terms, evaluated over all markers at once, equal the body and hand
terms written out one by one (body 3D relative to the mid-hip, hands to their wrist, robust 2D
with the body's and the hands' own scales and weights)."""

from __future__ import annotations

import numpy as np
import torch

from core.fit import body as fb
from models.body import load_body_model

SIZE = (1280, 720)
FOCAL = 1000.0
CENTER = torch.tensor([640.0, 360.0], dtype=torch.float64)


def _separate_terms(person: fb._Person, out: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """(lift 3D, place 3D, place 2D) as separate body and hand sums."""
    T = person.T
    body, hands = out["body"], out["hands"]
    hip = body[:, fb.HIP_ROWS].mean(1, keepdim=True)
    body_3d = (person.w_body[..., None] * ((body - hip) - person.body_3d) ** 2).sum() / T
    hand_3d = (person.w_hand[..., None] * ((hands - hands[:, :, :1]) - person.hand_3d) ** 2).sum() / T
    lift = fb.W_LIFT_3D * body_3d + fb.W_HAND_3D * hand_3d
    place_3d = fb.W_PLACE_3D * (body_3d + fb.W_HAND_3D * hand_3d)

    def robust_2d(points: torch.Tensor, target: torch.Tensor, weight: torch.Tensor,
                  sigma: float) -> torch.Tensor:
        depth = points[..., 2].detach().clamp(min=0.1)
        proj = person.focal * points[..., :2] / points[..., 2:3].clamp(min=0.05) + CENTER
        sq = (((proj - target) * depth[..., None] / person.focal) ** 2).sum(-1)
        return (weight * sigma**2 * sq / (sigma**2 + sq)).sum() / T

    place_2d = fb.W_2D * robust_2d(body, person.body_2d, person.w_body, fb.ROBUST_SIGMA_M) + \
        fb.W_HAND_2D * robust_2d(hands, person.hand_2d, person.w_hand, fb.HAND_ROBUST_SIGMA_M)
    return lift, place_3d, place_2d


def test_all_marker_terms_equal_separate_body_and_hand_terms(synth) -> None:
    model = load_body_model("mannequin-x")
    motion = synth.motion(16, seed=3, wave=1.0)
    obs = synth.observe(synth.pose(model, motion), FOCAL, SIZE, noise_px=3.0, noise_m=0.03, seed=3)
    conf = np.random.default_rng(3).uniform(0.2, 1.0, obs.hand_conf.shape).astype(np.float32)
    obs = type(obs)(**{**obs.__dict__, "hand_conf": conf})       # unequal hand weights
    person = fb._Person(obs, model.double(), fb.FitOptions(dtype=torch.float64), 30.0)
    person.set_camera(FOCAL, np.array([640.0, 360.0]))
    person.set_translation(FOCAL, np.array([640.0, 360.0]))
    with torch.no_grad():
        person.hands.add_(0.2)                                   # residuals on every marker
        person.transl.add_(torch.tensor([0.05, -0.03, 0.1], dtype=torch.float64))
    for with_transl in (False, True):
        out = person.forward(with_transl)
        lift, place_3d, place_2d = _separate_terms(person, out)
        every = out["every"]
        for weights, expect in ((person.w_lift_3d, lift), (person.w_place_3d, place_3d)):
            torch.testing.assert_close(person._landmark_3d_loss(every, weights), expect, rtol=1e-12, atol=0)
        torch.testing.assert_close(person._reprojection_loss(every), place_2d, rtol=1e-12, atol=0)
        assert float(place_2d) > 0 and float(lift) > 0
