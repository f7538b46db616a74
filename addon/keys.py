"""THE one keyframe writer: whole F-Curves at once through ``keyframe_points.foreach_set``.

Every key the add-on writes goes through :func:`write_channels`. It hides how actions
differ between Blender versions:

* 4.2 / 4.3: legacy actions, ``action.fcurves.new(data_path, index=, action_group=)``;
* 4.4 / 4.5: layered actions (slots, layers, strips, channelbags). ``action.fcurves``
  still exists there but is a legacy shim that creates an unassigned slot: never used;
* 5.0+: layered actions only (``action.fcurves`` is gone).

Writing a curve is ``keyframe_points.add(N)`` + ``foreach_set("co", ...)`` +
``fcurve.update()`` (handles recomputed as ``keyframe_insert`` would), which is
hundreds of times faster than ``keyframe_insert`` on long takes.

Public interface (used by apply, retarget and export):

``Channel(data_path, index, values, group="")``
    One animated property component; ``values`` is (N,) float, one per frame.
``write_channels(owner, frames, channels, *, action=None, action_name=None,
interpolation=None) -> bpy.types.Action``
    Writes the channels on ``owner`` (an ID: object, camera data, ...) at ``frames``
    ((N,) float, scene frames). Creates (or reuses ``action``) an action assigned to
    ``owner`` (a slot for it on layered actions). Existing curves with the same
    data_path/index are replaced. Returns the action.
``ensure_action(owner, action=None, name=None) -> bpy.types.Action``
    The owner's action (created and assigned when missing).
``owner_fcurves(owner) -> list[bpy.types.FCurve]``
    The F-Curves animating ``owner`` (its assigned action and slot).
``find_fcurve(owner, data_path, index=0) -> bpy.types.FCurve | None``
``read_fcurve(fcurve) -> (frames (N,), values (N,))`` float64 arrays of the key points.
``LAYERED_ACTIONS``: True on Blender 4.4 and later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import bpy
import numpy as np

LAYERED_ACTIONS: bool = "layers" in bpy.types.Action.bl_rna.properties
"""True where actions are layered (Blender 4.4+): slots, layers, strips, channelbags."""

_INTERPOLATION = ("CONSTANT", "LINEAR", "BEZIER")


@dataclass(frozen=True)
class Channel:
    """One animated property component.

    Attributes:
        data_path: RNA path on the owner, e.g. ``pose.bones["pelvis"].location``.
        index: array index (0 for scalar properties).
        values: (N,) float values, one per frame given to :func:`write_channels`.
        group: F-Curve group name (e.g. the bone name); "" for none.
    """

    data_path: str
    index: int
    values: np.ndarray
    group: str = ""


def ensure_action(owner: bpy.types.ID, action: bpy.types.Action | None = None,
                  name: str | None = None) -> bpy.types.Action:
    """Return the action animating ``owner``, creating and assigning one when needed.

    On layered actions the owner gets its own slot in ``action`` (created when missing).
    """
    anim = owner.animation_data or owner.animation_data_create()
    if action is None:
        action = anim.action or bpy.data.actions.new(name or f"{owner.name}Action")
    if anim.action != action:
        anim.action = action
    if LAYERED_ACTIONS:
        slot = anim.action_slot
        if slot is None or action.slots.find(slot.identifier) < 0:
            slot = _slot_for(action, owner)
            anim.action_slot = slot
    return action


def _slot_for(action: bpy.types.Action, owner: bpy.types.ID) -> bpy.types.ActionSlot:
    for slot in action.slots:
        if slot.target_id_type == owner.id_type and slot.name_display == owner.name:
            return slot
    return action.slots.new(id_type=owner.id_type, name=owner.name)


def _channelbag(action: bpy.types.Action, owner: bpy.types.ID, create: bool):
    """Channelbag of the owner's slot in the action's first keyframe strip (layered only)."""
    slot = owner.animation_data.action_slot if owner.animation_data else None
    if slot is None:
        return None
    if not action.layers:
        if not create:
            return None
        action.layers.new("Layer")
    layer = action.layers[0]
    if not layer.strips:
        if not create:
            return None
        layer.strips.new(type="KEYFRAME")
    strip = layer.strips[0]
    if create:
        return strip.channelbag(slot, ensure=True)
    return strip.channelbag(slot)


def owner_fcurves(owner: bpy.types.ID) -> list[bpy.types.FCurve]:
    """F-Curves of the action (and, on layered actions, the slot) assigned to ``owner``."""
    anim = owner.animation_data
    if anim is None or anim.action is None:
        return []
    if not LAYERED_ACTIONS:
        return list(anim.action.fcurves)
    bag = _channelbag(anim.action, owner, create=False)
    return list(bag.fcurves) if bag is not None else []


def find_fcurve(owner: bpy.types.ID, data_path: str, index: int = 0) -> bpy.types.FCurve | None:
    """The F-Curve animating ``owner``'s ``data_path[index]``, or None."""
    for fcurve in owner_fcurves(owner):
        if fcurve.data_path == data_path and fcurve.array_index == index:
            return fcurve
    return None


def read_fcurve(fcurve: bpy.types.FCurve) -> tuple[np.ndarray, np.ndarray]:
    """Key points of a curve: frames (N,) and values (N,), float64."""
    co = np.empty(2 * len(fcurve.keyframe_points), dtype=np.float32)
    fcurve.keyframe_points.foreach_get("co", co)
    co = co.astype(np.float64)
    return co[0::2], co[1::2]


def _new_fcurve(action: bpy.types.Action, bag, channel: Channel,
                groups: dict[str, object]) -> bpy.types.FCurve:
    """A fresh, empty curve for the channel (an existing one is replaced); ``groups`` caches
    the channel groups by name during one write."""
    if not LAYERED_ACTIONS:
        curves = action.fcurves
        old = curves.find(channel.data_path, index=channel.index)
        if old is not None:
            curves.remove(old)
        if channel.group:
            return curves.new(channel.data_path, index=channel.index, action_group=channel.group)
        return curves.new(channel.data_path, index=channel.index)
    old = bag.fcurves.find(channel.data_path, index=channel.index)
    if old is not None:
        bag.fcurves.remove(old)
    fcurve = bag.fcurves.new(channel.data_path, index=channel.index)
    if channel.group:
        if not groups:
            groups.update((g.name, g) for g in bag.groups)
        group = groups.get(channel.group)
        if group is None:
            group = groups[channel.group] = bag.groups.new(channel.group)
        fcurve.group = group
    return fcurve


def write_channels(owner: bpy.types.ID, frames: np.ndarray, channels: Sequence[Channel], *,
                   action: bpy.types.Action | None = None, action_name: str | None = None,
                   interpolation: str | None = None) -> bpy.types.Action:
    """Write whole F-Curves for ``owner``: one key per frame per channel.

    Args:
        owner: the animated ID (an armature object for pose bones, a camera object, ...).
        frames: (N,) scene frame numbers, strictly increasing.
        channels: the curves; each ``values`` has shape (N,).
        action: action to write into (assigned to ``owner``); default: the owner's
            current action, or a new one named ``action_name``.
        interpolation: ``CONSTANT``, ``LINEAR`` or ``BEZIER``; None keeps the user's
            default for new keys (as ``keyframe_insert`` would).

    Returns:
        The action holding the curves.

    Raises:
        ValueError: frames and values disagree in length, or values are not finite.
    """
    frames = np.asarray(frames, dtype=np.float64).reshape(-1)
    n = frames.size
    if n and np.any(np.diff(frames) <= 0):
        raise ValueError("frames must be strictly increasing")
    for channel in channels:
        if np.shape(channel.values) != (n,):
            raise ValueError(f"{channel.data_path}[{channel.index}]: {np.shape(channel.values)} values "
                             f"for {n} frames")
    co = np.empty((len(channels), n, 2), dtype=np.float32)
    co[:, :, 0] = frames
    if channels:
        co[:, :, 1] = np.stack([np.asarray(c.values) for c in channels])
    bad = ~np.isfinite(co[:, :, 1]).all(axis=1)
    if bad.any():
        channel = channels[int(np.argmax(bad))]
        raise ValueError(f"{channel.data_path}[{channel.index}]: values are not finite")
    if interpolation is not None and interpolation not in _INTERPOLATION:
        raise ValueError(f"interpolation must be one of {_INTERPOLATION}")
    action = ensure_action(owner, action, action_name)
    bag = _channelbag(action, owner, create=True) if LAYERED_ACTIONS else None
    interp = None
    if interpolation is not None:
        interp = np.full(n, _INTERPOLATION.index(interpolation), dtype=np.int32)
    groups: dict[str, object] = {}
    for k, channel in enumerate(channels):
        fcurve = _new_fcurve(action, bag, channel, groups)
        points = fcurve.keyframe_points
        points.add(n)
        points.foreach_set("co", co[k].ravel())
        if interp is not None:
            points.foreach_set("interpolation", interp)
        fcurve.update()
    return action
