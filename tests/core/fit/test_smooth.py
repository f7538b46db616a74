"""Rotation-aware, zero-phase smoothing."""

from __future__ import annotations

import numpy as np

from core.fit.smooth import (continuous_quaternions, fill_gaps, fill_gaps_periodic, missing_runs,
                             motion_period, smooth_positions, smooth_rotations, unwrap_axis_angle)
from models.kinematics import axis_angle_to_matrix_np, axis_angle_to_quaternion_np


def test_continuous_quaternions_removes_sign_flips() -> None:
    aa = np.stack([np.array([0.0, 0.0, a]) for a in np.linspace(0, 3.0, 20)])[:, None]
    q = axis_angle_to_quaternion_np(aa)
    q[5::3] *= -1
    fixed = continuous_quaternions(q)
    assert ((fixed[1:] * fixed[:-1]).sum(-1) > 0).all()
    np.testing.assert_allclose(np.abs((fixed * q).sum(-1)), 1.0, atol=1e-9)  # same rotations


def test_unwrap_axis_angle_has_no_2pi_jumps() -> None:
    angles = np.linspace(2.8, 3.6, 30)  # crosses pi: plain axis-angle jumps to the opposite axis
    aa = np.zeros((30, 1, 3))
    aa[:, 0, 2] = angles
    wrapped = np.where(angles[:, None] > np.pi, (angles[:, None] - 2 * np.pi) * np.array([0, 0, 1.0]),
                       angles[:, None] * np.array([0, 0, 1.0]))[:, None]
    out = unwrap_axis_angle(wrapped)
    assert np.abs(np.diff(out[:, 0, 2])).max() < 0.05
    np.testing.assert_allclose(axis_angle_to_matrix_np(out), axis_angle_to_matrix_np(wrapped), atol=1e-9)


def test_smoothing_is_zero_phase_and_reduces_jitter() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(120)
    clean = np.stack([0.6 * np.sin(2 * np.pi * t / 60), 0.3 * np.cos(2 * np.pi * t / 45), 0.1 + 0 * t], -1)[:, None]
    noisy = clean + rng.normal(0, 0.03, clean.shape)
    out = smooth_rotations(noisy, sigma_frames=2.0)
    err_before = np.abs(noisy - clean).mean()
    err_after = np.abs(out - clean).mean()
    assert err_after < 0.6 * err_before
    acc = lambda x: np.abs(np.diff(x, 2, axis=0)).mean()  # noqa: E731
    assert acc(out) < 0.3 * acc(noisy)
    # no lag: the best alignment of the smoothed curve with the clean one is at shift 0
    errs = [np.abs(np.roll(out, s, axis=0)[10:-10] - clean[10:-10]).mean() for s in range(-4, 5)]
    assert int(np.argmin(errs)) == 4


def test_smoothing_strength_zero_is_identity() -> None:
    x = np.random.default_rng(1).normal(size=(10, 2, 3)) * 0.5
    np.testing.assert_allclose(smooth_rotations(x, 0.0), x, atol=1e-9)
    np.testing.assert_allclose(smooth_positions(x, 0.0), x)


def test_fill_gaps_interpolates_and_holds() -> None:
    v = np.array([0.0, 0, 2, 0, 4, 0])[:, None]
    known = np.array([False, True, True, False, True, False])
    v[1] = 1.0
    out = fill_gaps(v, known)
    np.testing.assert_allclose(out[:, 0], [1, 1, 2, 3, 4, 4])
    assert (fill_gaps(v, np.zeros(6, bool)) == 0).all()


def test_periodic_gap_fill_keeps_a_cycle_going() -> None:
    t = np.arange(120)
    swing = np.stack([np.sin(2 * np.pi * t / 33), 0.5 * np.cos(2 * np.pi * t / 33)], 1)   # period 33
    known = np.ones(120, bool)
    known[70:85] = False
    assert motion_period(swing, known, 12, 60) == 33
    assert motion_period(np.random.default_rng(0).normal(size=(120, 2)), known, 12, 60) == 0
    filled = fill_gaps_periodic(np.where(known[:, None], swing, 0.0), known, 33)
    np.testing.assert_allclose(filled, swing, atol=1e-9)
    linear = fill_gaps(swing, known)
    assert np.abs(linear[70:85] - swing[70:85]).max() > 0.5      # what bridging alone would give
    np.testing.assert_array_equal(fill_gaps_periodic(swing, known, 0), swing)   # not periodic: untouched


def test_missing_runs_are_the_maximal_unseen_spans() -> None:
    assert missing_runs(np.array([0, 1, 1, 0, 0, 1, 0], bool)) == [(0, 1), (3, 5), (6, 7)]
    assert missing_runs(np.ones(4, bool)) == []
    assert missing_runs(np.zeros(3, bool)) == [(0, 3)]
