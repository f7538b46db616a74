"""addon/keys.py: the one keyframe writer, on bpy 5.0 (layered actions) and 4.2 (legacy)."""

from __future__ import annotations

import bpy
import numpy as np
import pytest

from addon import keys

pytestmark = pytest.mark.compat42


def _empty_object(name: str = "Owner") -> bpy.types.Object:
    obj = bpy.data.objects.new(name, None)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def test_write_channels_keys_every_frame_exactly(empty_scene):
    obj = _empty_object()
    frames = np.arange(1, 201, dtype=np.float64)
    values = np.sin(frames / 7.0).astype(np.float32)
    action = keys.write_channels(obj, frames, [keys.Channel("location", 2, values, "Object Transforms")])
    assert obj.animation_data.action == action
    curve = keys.find_fcurve(obj, "location", 2)
    got_frames, got_values = keys.read_fcurve(curve)
    np.testing.assert_array_equal(got_frames, frames)
    np.testing.assert_array_equal(got_values, values.astype(np.float64))
    assert curve.group is not None and curve.group.name == "Object Transforms"
    for frame in (1, 57, 200):  # Blender evaluates the curve to the key's value on the key
        empty_scene.frame_set(frame)
        assert obj.location[2] == pytest.approx(float(values[frame - 1]), abs=1e-6)


def test_layered_actions_bind_a_slot_and_no_stray_ones(empty_scene):
    a, b = _empty_object("A"), _empty_object("B")
    frames = np.arange(1.0, 4.0)
    action = keys.write_channels(a, frames, [keys.Channel("location", 0, np.zeros(3))])
    keys.write_channels(b, frames, [keys.Channel("location", 1, np.ones(3))], action=action)
    if keys.LAYERED_ACTIONS:  # one slot per owner: each sees only its own curves
        assert len(keys.owner_fcurves(a)) == 1 and len(keys.owner_fcurves(b)) == 1
        assert keys.owner_fcurves(a)[0].array_index == 0 and keys.owner_fcurves(b)[0].array_index == 1
        assert {slot.name_display for slot in action.slots} == {"A", "B"}
        assert a.animation_data.action_slot != b.animation_data.action_slot
    else:  # legacy actions are shared whole
        assert len(keys.owner_fcurves(a)) == 2 and keys.owner_fcurves(b) == keys.owner_fcurves(a)
    empty_scene.frame_set(2)
    assert (a.location[0], b.location[1]) == (0.0, 1.0)


def test_rewriting_replaces_the_curve(empty_scene):
    obj = _empty_object()
    keys.write_channels(obj, np.arange(1.0, 11.0), [keys.Channel("location", 0, np.arange(10.0))])
    keys.write_channels(obj, np.arange(1.0, 4.0), [keys.Channel("location", 0, np.full(3, 7.0))],
                        interpolation="CONSTANT")
    curves = keys.owner_fcurves(obj)
    assert len(curves) == 1
    assert keys.read_fcurve(curves[0])[1].tolist() == [7.0, 7.0, 7.0]
    assert {p.interpolation for p in curves[0].keyframe_points} == {"CONSTANT"}


def test_same_result_as_keyframe_insert(empty_scene):
    """foreach_set + update gives the curve keyframe_insert gives (values and bezier handles)."""
    fast, slow = _empty_object("Fast"), _empty_object("Slow")
    frames = np.arange(1, 31)
    values = np.cos(frames / 3.0)
    keys.write_channels(fast, frames, [keys.Channel("location", 0, values)])
    for f, v in zip(frames.tolist(), values.tolist()):
        slow.location[0] = v
        slow.keyframe_insert("location", index=0, frame=f)
    a, b = keys.find_fcurve(fast, "location", 0), keys.find_fcurve(slow, "location", 0)
    for name in ("co", "handle_left", "handle_right"):
        got = np.empty(60, np.float32)
        want = np.empty(60, np.float32)
        a.keyframe_points.foreach_get(name, got)
        b.keyframe_points.foreach_get(name, want)
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("bad", [np.zeros(4), np.array([0.0, np.nan, 0.0])])
def test_bad_values_are_refused_before_anything_is_written(empty_scene, bad):
    obj = _empty_object()
    with pytest.raises(ValueError):
        keys.write_channels(obj, np.arange(3.0), [keys.Channel("location", 0, bad)])
    assert keys.owner_fcurves(obj) == []
    with pytest.raises(ValueError, match="increasing"):
        keys.write_channels(obj, np.array([1.0, 1.0]), [keys.Channel("location", 0, np.zeros(2))])
