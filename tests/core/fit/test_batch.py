"""Fitting several people as one batch (core.fit.body._Group) is the same problem as fitting
each alone: the losses add up and every gradient lands on its own person."""

from __future__ import annotations

import numpy as np
import torch

from core.fit import body as fit_body
from core.fit.body import FitOptions, fit_clip
from core.fit.focal import FocalEstimate
from models.body import load_body_model

SIZE = (1280, 720)
FOCAL = 1000.0


def _people(synth, model, count: int, frames: int) -> list:
    """``count`` different people (pose, shape, distance), observed with a little noise."""
    return [synth.observe(synth.pose(model, synth.motion(frames, seed=i, distance=2.5 + i, wave=0.5 * i)),
                          FOCAL, SIZE, noise_px=1.0, noise_m=0.01, seed=i, track_id=i) for i in range(count)]


def test_group_losses_and_gradients_equal_the_sum_over_its_people(synth, body_model) -> None:
    observations = _people(synth, body_model, 3, 12)
    model = load_body_model("mannequin-x").double()
    options = FitOptions(dtype=torch.float64)
    people = [fit_body._Person(o, model, options, 30.0) for o in observations]
    rng = np.random.default_rng(0)
    for person in people:
        person.set_camera(FOCAL, np.array([640.0, 360.0]))
        person.set_translation(FOCAL, np.array([640.0, 360.0]))
        with torch.no_grad():  # away from the initial guess, so every term is active
            person.hands.add_(torch.as_tensor(rng.normal(0, 0.1, person.hands.shape)))
            person.betas.add_(torch.as_tensor(rng.normal(0, 0.5, 10)))
    assert people[0].update_contacts(30.0) is not None   # contact terms on some people only
    group = fit_body._Group(people)
    for loss_name in ("lift_loss", "place_loss"):
        for problem in [group, *people]:
            for p in (problem.go6, problem.body, problem.betas, problem.transl, problem.hands):
                p.grad = None
        together = getattr(group, loss_name)()
        together.backward()
        alone = [getattr(person, loss_name)() for person in people]
        sum(alone).backward()
        assert all(float(a.detach()) > 0 for a in alone)
        torch.testing.assert_close(together, sum(alone), atol=1e-12, rtol=1e-12)
        for i, person in enumerate(people):
            rows = slice(i * group.T, (i + 1) * group.T)
            pairs = [(group.go6.grad[rows], person.go6.grad), (group.body.grad[rows], person.body.grad),
                     (group.hands.grad[:, rows], person.hands.grad), (group.betas.grad[i], person.betas.grad)]
            if loss_name == "place_loss":
                pairs.append((group.transl.grad[rows], person.transl.grad))
            for ours, theirs in pairs:
                torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=1e-9)


def test_fit_clip_people_together_match_fitting_each_alone(synth, body_model) -> None:
    observations = _people(synth, body_model, 2, 20)
    options = FitOptions(focal=FocalEstimate(FOCAL, 0.0, "user"), lift_iterations=15, place_iterations=16)
    together = fit_clip(observations, SIZE, 30.0, body_model, options)
    for obs, fit in zip(observations, together.people, strict=True):
        alone = fit_clip([obs], SIZE, 30.0, body_model, options).people[0]
        assert fit.track_id == alone.track_id == obs.track_id
        # float32 rounding differs with the batch size: same fit within a few millimetres
        np.testing.assert_allclose(fit.joints, alone.joints, atol=5e-3)
        np.testing.assert_allclose(fit.transl, alone.transl, atol=5e-3)


def test_progress_advances_during_the_batched_optimisation(synth, body_model) -> None:
    observations = _people(synth, body_model, 2, 10)
    events: list[tuple[int, str]] = []
    options = FitOptions(focal=FocalEstimate(FOCAL, 0.0, "user"), lift_iterations=8, place_iterations=8)
    fit_clip(observations, SIZE, 30.0, body_model, options, lambda done, msg: events.append((done, msg)))
    done = [d for d, _ in events]
    assert done == sorted(done) and done[0] == -1 and done[-1] == 3      # people done - 1, as capture counts
    assert sum("lifting 2 people, step" in m for _, m in events) == 8
    assert sum("placing 2 people, step" in m for _, m in events) == 8
    assert [m for _, m in events if m.startswith(("lifted", "placed"))] == [
        "lifted person 0", "lifted person 1", "placed person 0", "placed person 1"]
