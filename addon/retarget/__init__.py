"""Retargeting captured SMPL-X motion onto other humanoid rigs.

* :mod:`.smplx_names`: the SMPL-X joints (keys of every mapping).
* :mod:`.mixamo`, :mod:`.rigify`, :mod:`.unreal`, :mod:`.vrm`: one table per rig vendor.
* :mod:`.names`: automatic name matching; :mod:`.mapping`: presets, detection, checks.
* :mod:`.transfer`: the world-space rotation transfer and bake (bpy, mathutils).
* :mod:`.quality`: foot sliding and end-effector error (numpy).
* :mod:`.props`: the mapping stored on the target armature (bpy PropertyGroup, UI list).
* :mod:`.preview`: side-by-side Workbench renders.

Only :mod:`.transfer`, :mod:`.props` and :mod:`.preview` import bpy.
"""
