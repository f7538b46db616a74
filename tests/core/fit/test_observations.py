"""Frames whose landmarks read the person turned away from their neighbours."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.fit.observations import downweight_frames, gap_edge_frames, off_heading_frames
from models import kinematics as kin


def _obs(body_model, synth, frames: int = 40):
    return synth.observe(synth.pose(body_model, synth.motion(frames)), 900.0, (1280, 720), noise_px=1.0,
                         noise_m=0.01)


def test_a_smooth_turn_is_not_flagged(body_model, synth) -> None:
    obs = _obs(body_model, synth)                 # the synthetic person yaws 0.6 rad over the clip
    assert not off_heading_frames(obs).any()


def test_frames_turned_round_are_flagged_and_downweighted(body_model, synth) -> None:
    obs = _obs(body_model, synth)
    bad = np.zeros(obs.num_frames, bool)
    bad[[12, 13, 30]] = True
    turn = kin.axis_angle_to_matrix_np(np.array([0.0, np.pi * 0.8, 0.0]))   # 144 deg about the vertical
    b3 = obs.body_3d.copy()
    b3[bad] = b3[bad] @ turn.T
    broken = replace(obs, body_3d=b3.astype(np.float32))
    found = off_heading_frames(broken)
    np.testing.assert_array_equal(found, bad)
    low = downweight_frames(broken, found, 0.2)
    np.testing.assert_allclose(low.body_conf[bad], 0.2 * broken.body_conf[bad])
    np.testing.assert_allclose(low.body_conf[~bad], broken.body_conf[~bad])
    np.testing.assert_allclose(low.hand_conf[:, bad], 0.2 * broken.hand_conf[:, bad])
    assert low.valid.all()                       # still placed, led by the neighbours


def test_unseen_frames_are_never_flagged(body_model, synth) -> None:
    obs = _obs(body_model, synth)
    valid = obs.valid.copy()
    valid[5:20] = False
    hidden = replace(obs, valid=valid, body_conf=obs.body_conf * valid[:, None])
    assert not off_heading_frames(hidden)[~valid].any()


def test_gap_edges_are_the_seen_frames_next_to_an_inner_gap() -> None:
    valid = np.array([0, 1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 0], bool)
    edges = gap_edge_frames(valid, 2)
    # the clip's unseen ends are no gap; the lone frame 8 inside the gap is an edge
    assert np.nonzero(edges)[0].tolist() == [4, 5, 8, 10, 11]
    assert not gap_edge_frames(valid, 0).any()
    assert not gap_edge_frames(np.ones(10, bool), 3).any()
    assert not gap_edge_frames(np.zeros(10, bool), 3).any()
