"""Keyframe editing: reduction with an error bound, range re-smoothing, take merging, NLA strips.

:mod:`.curves` is plain numpy (no bpy); :mod:`.actions` applies it to Blender actions
through :mod:`addon.keys` (the one keyframe writer).
"""
