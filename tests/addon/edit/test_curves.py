"""Plain-numpy reduction and smoothing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from addon.edit.curves import quat_angle, reduce_keys, smooth_range

pytestmark = pytest.mark.compat42


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=80), st.floats(0.001, 1.0))
def test_reduction_respects_the_bound_under_linear_interpolation(values, tol):
    v = np.asarray(values)
    t = np.arange(len(v), dtype=float)
    keep = reduce_keys(t, v, tol)
    assert keep[0] == 0 and keep[-1] == len(v) - 1
    assert np.all(np.abs(np.interp(t, t[keep], v[keep]) - v) <= tol + 1e-12)


def test_reduction_removes_keys_on_lines_only():
    t = np.arange(100.0)
    line = np.stack([2 * t, -t], axis=1)
    assert reduce_keys(t, line, 1e-9).tolist() == [0, 99]
    kink = np.abs(t - 40)
    assert reduce_keys(t, kink, 1e-9).tolist() == [0, 40, 99]


def test_smoothing_changes_only_the_range_and_keeps_unit_quaternions():
    rng = np.random.default_rng(0)
    q = np.tile([1.0, 0.0, 0.0, 0.0], (60, 1)) + 0.1 * rng.normal(size=(60, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    q[30:] *= -1   # sign flips must not be averaged into nonsense
    out = smooth_range(q, 20, 40, 2.0, quaternion=True)
    assert np.allclose(out[:20], q[:20]) and np.allclose(np.abs(np.sum(out[40:] * q[40:], axis=1)), 1.0)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)
    jitter_before = quat_angle(q[21:39], q[22:40]).mean()
    jitter_after = quat_angle(out[21:39], out[22:40]).mean()
    assert jitter_after < 0.5 * jitter_before
