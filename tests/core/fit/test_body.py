"""The fit on synthetic problems generated through the real body model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from core.evaluate import procrustes
from core.fit.body import FitOptions, fit_clip
from core.fit.focal import PRIOR_FOV_DEG, FocalEstimate, focal_from_fov

SIZE = (1280, 720)


def _errors(fit, posed) -> tuple[float, float, float]:
    j, g = fit.joints, posed["joints"]
    body = np.linalg.norm((j[:, :22] - j[:, :1]) - (g[:, :22] - g[:, :1]), axis=-1).mean() * 1000
    hands = np.mean([np.linalg.norm(procrustes(j[:, sl], g[:, sl]) - g[:, sl], axis=-1).mean() * 1000
                     for sl in (slice(25, 40), slice(40, 55))])
    root = np.linalg.norm(j[:, 0] - g[:, 0], axis=-1).mean() * 1000
    return body, hands, root


def test_fit_recovers_pose_and_placement_with_known_focal(body_model, synth) -> None:
    posed = synth.pose(body_model, synth.motion(20, distance=2.5))
    obs = synth.observe(posed, 1000.0, SIZE, noise_px=1.0, noise_m=0.01)
    clip = fit_clip([obs], SIZE, 30.0, body_model, FitOptions(focal=FocalEstimate(1000.0, 0.0, "user")))
    fit = clip.people[0]
    body, hands, root = _errors(fit, posed)
    assert body < 30 and hands < 12 and root < 120, (body, hands, root)
    assert fit.valid.all() and clip.focal.source == "user"
    for name in ("global_orient", "body_pose", "left_hand_pose", "transl", "joints", "betas"):
        assert np.isfinite(getattr(fit, name)).all()


def test_fit_estimates_focal_at_close_range(body_model, synth) -> None:
    """A person 1.5-2 m away seen through a wide lens: perspective pulls the focal from the prior
    (50 degrees: 1372 px) most of the way to the truth, and the truth lies within 2 sigma (the
    lifted 3D's depth scale is not trusted: see core.fit.focal)."""
    posed = synth.pose(body_model, synth.motion(20, distance=1.6))
    obs = synth.observe(posed, 600.0, SIZE, noise_px=0.5, noise_m=0.005)
    clip = fit_clip([obs], SIZE, 30.0, body_model, FitOptions())
    f, std = clip.focal.focal_px, clip.focal.std_px
    assert clip.focal.source == "estimated"
    assert abs(f - 600.0) < 0.5 * abs(focal_from_fov(SIZE[0], PRIOR_FOV_DEG) - 600.0), clip.focal
    assert abs(np.log(f / 600.0)) < 2 * std / f, clip.focal
    assert 0 < std < 0.4 * f


def test_bad_input_stays_finite_and_flags_invalid_frames(body_model, synth) -> None:
    posed = synth.pose(body_model, synth.motion(30))
    obs = synth.observe(posed, 900.0, SIZE, noise_px=2.0, noise_m=0.02)
    valid = obs.valid.copy()
    valid[5:8] = False            # a short gap: filled, still valid
    valid[15:30] = False          # a long gap to the end: invalid
    conf = obs.body_conf.copy()
    conf[10] = 0.0                # a zero-confidence frame
    b2 = obs.body_2d.copy()
    b2[12, :5] = np.nan           # garbage from upstream
    hc = obs.hand_conf.copy()
    hc[:, 3:6] = 0.0              # hands drop out briefly
    broken = replace(obs, valid=valid, body_conf=conf, body_2d=b2, hand_conf=hc).sanitized()
    extreme = replace(obs, body_2d=obs.body_2d * np.float32(3.0) - 1000)  # nonsense, far off
    few = synth.observe(synth.pose(body_model, synth.motion(2)), 900.0, SIZE)  # seen two frames
    few = replace(few, valid=np.array([True, False]), body_conf=few.body_conf * np.array([[1.0], [0.0]], np.float32))
    options = FitOptions(lift_iterations=30, place_iterations=40)
    for person in (broken, extreme):
        fit = fit_clip([person], SIZE, 30.0, body_model, options).people[0]
        for name in ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "transl", "joints",
                     "betas", "confidence"):
            assert np.isfinite(getattr(fit, name)).all(), name
    fit = fit_clip([broken], SIZE, 30.0, body_model, options).people[0]
    assert fit.valid[5:8].all() and not fit.valid[15:].any() and fit.valid[:5].all()
    assert (fit.confidence[15:] == 0).all()
    fit = fit_clip([few], SIZE, 30.0, body_model, options).people[0]
    assert np.isfinite(fit.joints).all() and fit.valid.tolist() == [True, False]


def test_no_hands_keeps_the_mean_hand(body_model, synth) -> None:
    posed = synth.pose(body_model, synth.motion(8))
    obs = synth.observe(posed, 900.0, SIZE)
    fit = fit_clip([obs], SIZE, 30.0, body_model, FitOptions(hands=False, lift_iterations=20,
                                                             place_iterations=20)).people[0]
    assert np.abs(fit.left_hand_pose).max() < 1e-3 and np.abs(fit.right_hand_pose).max() < 1e-3


@pytest.mark.parametrize("smoothing", [0.0, 2.0])
def test_smoothing_strength_changes_jitter(body_model, synth, smoothing: float) -> None:
    posed = synth.pose(body_model, synth.motion(30))
    obs = synth.observe(posed, 900.0, SIZE, noise_px=4.0, noise_m=0.03, seed=3)
    options = FitOptions(smoothing=smoothing, focal=FocalEstimate(900.0, 0.0, "user"), lift_iterations=30,
                         place_iterations=40)
    fit = fit_clip([obs], SIZE, 30.0, body_model, options).people[0]
    j = fit.joints[:, :22] - fit.joints[:, :1]
    g = posed["joints"][:, :22] - posed["joints"][:, :1]
    acc = lambda x: np.linalg.norm(np.diff(x, 2, axis=0), axis=-1).mean() * 1000  # noqa: E731
    accel_error = np.linalg.norm(np.diff(j, 2, axis=0) - np.diff(g, 2, axis=0), axis=-1).mean() * 1000
    if smoothing == 0:
        assert acc(j) > 2 * acc(g)  # unsmoothed: jitter from the noise
    else:
        assert accel_error < 6.0, accel_error


def test_adam_matches_torch_optim() -> None:
    """The fitter's written-out Adam takes the same steps as torch.optim.Adam (per-parameter lr)."""
    from core.fit.optim import Adam

    torch.manual_seed(0)
    target = torch.randn(4, 3)
    a = [torch.nn.Parameter(torch.zeros(4, 3)), torch.nn.Parameter(torch.ones(2))]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    mine = Adam(a, [0.05, 0.01])
    ref = torch.optim.Adam([{"params": [p], "lr": lr} for p, lr in zip(b, [0.05, 0.01], strict=True)])
    for _ in range(30):
        for params, opt in ((a, mine), (b, ref)):
            opt.zero_grad()
            loss = ((params[0] - target) ** 2).sum() + (params[1] ** 3).sum()
            loss.backward()
            opt.step()
    for p, q in zip(a, b, strict=True):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a[0].detach(), torch.zeros(4, 3))


def test_knee_twist_costs_only_where_the_ankle_is_seen(body_model, synth) -> None:
    """The hinge prior on the knees acts on frames whose ankle landmark is seen: a leg out of frame
    keeps its initial guess (a prior alone would move it by full Adam steps)."""
    from core.fit.body import W_KNEE_HINGE, W_PRIOR, _Person
    from core.fit.priors import POSE_PRIOR_WEIGHTS

    posed = synth.pose(body_model, synth.motion(6))
    obs = synth.observe(posed, 1000.0, SIZE)
    conf = obs.body_conf.copy()
    conf[3:, 27] = 0.0                            # left ankle unseen in the last 3 frames
    person = _Person(replace(obs, body_conf=conf), body_model, FitOptions(), 30.0)

    def cost(frames: slice) -> float:
        with torch.no_grad():
            person.body.zero_()
            before = float(person._regularisers({"fingers": person.hands + person.hand_mean}))
            person.body[frames, 3, 1] = 0.3       # left knee twist
            return float(person._regularisers({"fingers": person.hands + person.hand_mean})) - before

    prior = W_PRIOR * POSE_PRIOR_WEIGHTS[3] * 3 * 0.09 / 6      # the pose prior, on every seen frame
    assert cost(slice(0, 3)) == pytest.approx(prior + W_KNEE_HINGE * 3 * 0.09 / 6, rel=1e-3)
    assert cost(slice(3, 6)) == pytest.approx(prior, rel=1e-3)
