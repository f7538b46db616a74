"""Editing baked takes on an armature: key reduction, range re-smoothing, merging a
re-captured range, and one NLA strip per take. Keys are written with :mod:`addon.keys`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import bpy
import numpy as np

from .. import keys
from .curves import quat_angle, reduce_keys, smooth_range

_PATH = re.compile(r'^pose\.bones\["(.+)"\]\.(location|rotation_quaternion|rotation_euler|rotation_axis_angle|scale)$')


class EditError(ValueError):
    """An edit that cannot run (shown to the user)."""


@dataclass
class Group:
    """The curves of one property (e.g. a bone's rotation_quaternion): (N,) frames, (N,C) values."""

    data_path: str
    bone: str
    prop: str
    frames: np.ndarray
    values: np.ndarray


def curve_groups(obj: bpy.types.Object, bones: Iterable[str] | None = None) -> list[Group]:
    """The object's animated properties, grouped (all components share frames when baked)."""
    wanted = set(bones) if bones is not None else None
    by_path: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    for fc in keys.owner_fcurves(obj):
        by_path.setdefault(fc.data_path, {})[fc.array_index] = keys.read_fcurve(fc)
    groups = []
    for path, comps in by_path.items():
        match = _PATH.match(path)
        bone, prop = (match.group(1), match.group(2)) if match else ("", path)
        if wanted is not None and bone not in wanted:
            continue
        frames = comps[min(comps)][0]
        if any(len(f) != len(frames) or not np.allclose(f, frames) for f, _ in comps.values()):
            raise EditError(f"the curves of {path} have different keys; bake the action first")
        values = np.stack([comps[i][1] for i in sorted(comps)], axis=1)
        groups.append(Group(path, bone, prop, frames, values))
    return groups


def _write(obj: bpy.types.Object, group: Group, frames: np.ndarray, values: np.ndarray,
           interpolation: str | None = None) -> None:
    channels = [keys.Channel(group.data_path, k, values[:, k], group.bone) for k in range(values.shape[1])]
    keys.write_channels(obj, frames, channels, action=obj.animation_data.action, interpolation=interpolation)


def _evaluate(obj: bpy.types.Object, group: Group, frames: np.ndarray) -> np.ndarray:
    curves = [keys.find_fcurve(obj, group.data_path, k) for k in range(group.values.shape[1])]
    return np.array([[c.evaluate(float(f)) for c in curves] for f in frames])


def _error(group: Group, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame error: degrees for rotations, millimetres for locations, raw otherwise."""
    if group.prop == "rotation_quaternion":
        return np.degrees(quat_angle(a, b))
    if group.prop == "rotation_euler":
        return np.degrees(np.abs(a - b).sum(axis=1))
    if group.prop == "location":
        return 1000.0 * np.linalg.norm(a - b, axis=1)
    return np.abs(a - b).max(axis=1)


@dataclass
class ReduceReport:
    keys_before: int
    keys_after: int
    max_rotation_error_deg: float
    max_location_error_mm: float

    @property
    def ratio(self) -> float:
        return self.keys_after / max(self.keys_before, 1)


def reduce_action(obj: bpy.types.Object, rotation_deg: float = 0.5, location_mm: float = 1.0,
                  bones: Iterable[str] | None = None) -> ReduceReport:
    """Remove keys while every property stays within the bound (checked by re-evaluating).

    Greedy (Douglas-Peucker) per property on its own error: the rotation angle in
    degrees (quaternions; Euler: the sum of component errors, an upper bound), the
    location distance in millimetres. After writing, the curves (Bezier, Blender's
    handles) are evaluated at every original frame and keys are added back where the
    error exceeds the bound, until none does.
    """
    if rotation_deg <= 0 or location_mm <= 0:
        raise EditError("error bounds must be positive")
    before = after = 0
    worst_rot = worst_loc = 0.0
    for group in curve_groups(obj, bones):
        bound = {"rotation_quaternion": rotation_deg, "rotation_euler": rotation_deg,
                 "location": location_mm}.get(group.prop, 1e-4)
        # the greedy pass measures the property's own error (angle / distance) under
        # linear interpolation, slightly tighter than the bound; re-evaluation decides
        keep = set(reduce_keys(group.frames, group.values, 0.8 * bound,
                               lambda a, b, g=group: _error(g, a, b)).tolist())
        for _ in range(50):
            idx = np.array(sorted(keep))
            _write(obj, group, group.frames[idx], group.values[idx])
            err = _error(group, _evaluate(obj, group, group.frames), group.values)
            bad = np.flatnonzero(err > bound)
            if bad.size == 0:
                break
            # add the worst frame of every run of violations
            runs = np.split(bad, np.flatnonzero(np.diff(bad) > 1) + 1)
            keep.update(int(r[np.argmax(err[r])]) for r in runs)
        else:
            idx = np.arange(len(group.frames))
            _write(obj, group, group.frames, group.values)
            err = np.zeros(len(idx))
        before += group.values.size
        after += len(keep) * group.values.shape[1]
        if group.prop.startswith("rotation"):
            worst_rot = max(worst_rot, float(err.max(initial=0.0)))
        elif group.prop == "location":
            worst_loc = max(worst_loc, float(err.max(initial=0.0)))
    return ReduceReport(before, after, worst_rot, worst_loc)


def smooth_frames(obj: bpy.types.Object, frame_start: int, frame_end: int, sigma: float = 2.0,
                  bones: Iterable[str] | None = None) -> int:
    """Re-smooth keys in [frame_start, frame_end] (rotation-aware for quaternions).

    Returns the number of properties changed."""
    if frame_end <= frame_start:
        raise EditError("the frame range is empty")
    if sigma <= 0:
        raise EditError("sigma must be positive")
    count = 0
    for group in curve_groups(obj, bones):
        inside = np.flatnonzero((group.frames >= frame_start) & (group.frames <= frame_end))
        if inside.size < 2:
            continue
        values = smooth_range(group.values, int(inside[0]), int(inside[-1]) + 1, sigma,
                              quaternion=group.prop == "rotation_quaternion")
        _write(obj, group, group.frames, values)
        count += 1
    return count


def merge_channels(obj: bpy.types.Object, frames: np.ndarray, channels: list[keys.Channel]) -> int:
    """Replace the keys of ``obj``'s curves inside [frames.min(), frames.max()] by ``channels``
    (values at ``frames``: (N,) scene frames), keeping every key outside that range. Returns
    the number of curves merged."""
    frames = np.asarray(frames, dtype=np.float64)
    lo, hi = frames.min(), frames.max()
    merged = []
    for channel in channels:
        fc = keys.find_fcurve(obj, channel.data_path, channel.index)
        if fc is None:
            old_f, old_v = np.empty(0), np.empty(0)
        else:
            old_f, old_v = keys.read_fcurve(fc)
        outside = (old_f < lo - 1e-6) | (old_f > hi + 1e-6)
        new_f = np.concatenate([old_f[outside], frames])
        new_v = np.concatenate([old_v[outside], np.asarray(channel.values, dtype=np.float64)])
        order = np.argsort(new_f, kind="stable")
        merged.append((new_f[order], keys.Channel(channel.data_path, channel.index, new_v[order], channel.group)))
    # write curve by curve: each may have its own frames now
    for f, channel in merged:
        keys.write_channels(obj, f, [channel], action=obj.animation_data.action)
    return len(merged)


def push_take_to_nla(obj: bpy.types.Object, action: bpy.types.Action | None = None) -> bpy.types.NlaStrip:
    """Put a take (default: the active action) on its own NLA track, named after it, and
    clear the active action so the strips play. Returns the strip."""
    anim = obj.animation_data
    action = action or (anim.action if anim else None)
    if action is None:
        raise EditError(f"{obj.name} has no take to push")
    anim = anim or obj.animation_data_create()
    slot = getattr(anim, "action_slot", None) if anim.action == action else None
    track = anim.nla_tracks.new()
    track.name = action.name
    start = int(action.frame_range[0])
    strip = track.strips.new(action.name, start, action)
    if slot is not None and hasattr(strip, "action_slot"):
        strip.action_slot = slot
    if anim.action == action:
        anim.action = None
    return strip
