"""Measure a retarget in Blender: sample both armatures and compute :mod:`.quality` numbers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import bpy
import numpy as np

from .quality import QualityReport, compare
from .smplx_names import END_EFFECTORS, FOOT_JOINTS
from .transfer import leg_length, rest_matrices, sample_world_matrices


def _rest_heads(obj: bpy.types.Object, bones: Mapping[str, str]) -> dict[str, np.ndarray]:
    rest = np.array(obj.matrix_world)[None] @ rest_matrices(obj)
    return {j: rest[obj.pose.bones.find(b), :3, 3] for j, b in bones.items()}


def body_height(heads: Mapping[str, np.ndarray]) -> float:
    """Rest height proxy (metres): head joint above the lowest foot point (world z)."""
    feet = [heads[j][2] for j in FOOT_JOINTS if j in heads]
    return float(heads["head"][2] - min(feet))


def measure_retarget(context: bpy.types.Context, source: bpy.types.Object, target: bpy.types.Object,
                     source_bones: Mapping[str, str], target_bones: Mapping[str, str],
                     frames: Sequence[int], fps: float) -> QualityReport:
    frames = list(frames)
    """Foot sliding and end-effector error of ``target`` against ``source``.

    Args:
        source_bones, target_bones: SMPL-X joint -> bone, covering :data:`END_EFFECTORS`
            and the hips/knees/ankles (and toes where the target has them). Measure on the
            bones that deform (e.g. Rigify's DEF- bones), not on controls.
        frames: scene frames; fps: frames per second.
    """
    feet = [j for j in FOOT_JOINTS if j in target_bones and j in source_bones]
    effectors = list(END_EFFECTORS)
    src_world = sample_world_matrices(context, source, [source_bones[j] for j in feet + effectors], frames)
    tgt_world = sample_world_matrices(context, target, [target_bones[j] for j in feet + effectors], frames)
    src_heads, tgt_heads = _rest_heads(source, source_bones), _rest_heads(target, target_bones)
    n = len(feet)
    src_root = sample_world_matrices(context, source, [source_bones["pelvis"]], frames[:1])[0, 0, :3, 3]
    tgt_root = sample_world_matrices(context, target, [target_bones["pelvis"]], frames[:1])[0, 0, :3, 3]
    # origins: the root's first-frame place on the ground (the lowest foot point of the take)
    src_origin = np.array([src_root[0], src_root[1], src_world[:, :n, 2, 3].min()])
    tgt_origin = np.array([tgt_root[0], tgt_root[1], tgt_world[:, :n, 2, 3].min()])
    return compare(src_world[:, :n, :3, 3], tgt_world[:, :n, :3, 3], src_world[:, n:, :3, 3],
                   tgt_world[:, n:, :3, 3], fps, leg_length(src_heads) or 1.0, leg_length(tgt_heads) or 1.0,
                   src_origin, tgt_origin, body_height(src_heads), body_height(tgt_heads))
