"""Apply benchmark: 3 people x 3000 frames through the add-on's apply, against a
``keyframe_insert`` baseline measured in the same run.

    .venv/blender/bin/python bench/bench_apply.py [--people 3] [--frames 3000]

Prints frames/s per person for writing the keys (pose conversion + the one foreach_set
writer), the whole apply time (rigs, meshes, camera included), and the per-key cost of
``keyframe_insert`` on the same rig for a subset of curves (all frames; keyframe_insert
cost grows with the curve's length, so curves are measured whole and the ratio is per
key). Targets: >= 100x at 3000 frames and >= 20,000 frames/s per person.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="vm_bench_"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

from addon import keys, rig  # noqa: E402
from addon.motion_file import validate_motion  # noqa: E402
from addon.operators import apply as apply_module  # noqa: E402
from models.skeleton import SMPLX_JOINT_NAMES, SMPLX_PARENTS  # noqa: E402

BASELINE_BONES = ("pelvis", "left_knee", "right_elbow")


def synthetic_motion(people: int, frames: int, vertices_per_joint: int = 40) -> dict[str, np.ndarray]:
    """A valid body motion file (random but smooth motion, a small skinned mesh)."""
    rng = np.random.default_rng(0)
    parents = np.array(SMPLX_PARENTS)
    rest = np.zeros((55, 3))
    rest[0] = [0, 0.9, 0]
    for j in range(1, 55):
        rest[j] = rest[parents[j]] + rng.normal(size=3) * 0.08
    count = 55 * vertices_per_joint
    joint_of = np.repeat(np.arange(55), vertices_per_joint)
    verts = rest[joint_of] + rng.normal(size=(count, 3)) * 0.02
    faces = np.stack([np.arange(count - 2), np.arange(1, count - 1), np.arange(2, count)], axis=1)
    skin_i = np.stack([joint_of, np.maximum(parents[joint_of], 0), joint_of, joint_of], axis=1)
    skin_w = np.tile([0.7, 0.3, 0.0, 0.0], (count, 1))
    t = np.linspace(0, 20, frames)[:, None]
    m = {"format": np.array("video-mocap-motion/1"), "subject": np.array("body"), "source": np.array(""),
         "fps": np.array(30.0), "image_size": np.array([1280, 720]), "frame_index": np.arange(frames),
         "camera_focal_px": np.array([1000.0, 1000.0]), "camera_center_px": np.array([640.0, 360.0]),
         "camera_focal_std_px": np.array(0.0), "camera_focal_source": np.array("user"),
         "person_ids": np.arange(people), "flat_hand_mean": np.array(False),
         "avatar/model": np.array("mannequin-x"), "avatar/joint_names": np.array(SMPLX_JOINT_NAMES),
         "avatar/parents": parents, "avatar/faces": faces.astype(np.int32),
         "avatar/skin_indices": skin_i.astype(np.int32), "avatar/skin_weights": skin_w.astype(np.float32),
         "avatar/hand_mean": np.zeros((30, 3), np.float32)}
    for i in range(people):
        p = f"p{i}/"
        phase = rng.uniform(0, 6, size=(1, 3))
        m[p + "valid"] = np.ones(frames, bool)
        m[p + "confidence"] = np.ones(frames, np.float32)
        m[p + "betas"] = np.zeros(10, np.float32)
        m[p + "global_orient"] = (0.5 * np.sin(t + phase)).astype(np.float32)
        m[p + "transl"] = (np.c_[np.sin(t), 0.1 * np.cos(t), 4 + 0 * t] + [i, 0, 0]).astype(np.float32)
        for key, shape in (("body_pose", (21, 3)), ("left_hand_pose", (15, 3)), ("right_hand_pose", (15, 3))):
            m[p + key] = (0.3 * np.sin(t[:, :, None] * rng.uniform(0.5, 2, size=(1,) + shape))).astype(np.float32)
        m[p + "jaw_pose"] = np.zeros((frames, 3), np.float32)
        m[p + "expression"] = np.zeros((frames, 10), np.float32)
        m[p + "rest_joints"] = rest.astype(np.float32)
        m[p + "rest_vertices"] = verts.astype(np.float32)
    return m


def run(people: int, frames: int) -> dict[str, float]:
    bpy.ops.wm.read_homefile(use_empty=True)
    motion = validate_motion(synthetic_motion(people, frames))
    key_time = [0.0]
    key_cpu = [0.0]

    def timed(real):  # adds the wrapped call's wall and CPU seconds to the key-writing share
        def wrapper(*args, **kwargs):
            start, cpu = time.perf_counter(), time.process_time()
            try:
                return real(*args, **kwargs)
            finally:
                key_time[0] += time.perf_counter() - start
                key_cpu[0] += time.process_time() - cpu
        return wrapper

    real_write, real_pose_keys = apply_module.write_channels, apply_module.pose_keys
    apply_module.write_channels, apply_module.pose_keys = timed(real_write), timed(real_pose_keys)
    try:
        start = time.perf_counter()
        take = apply_module.apply_motion(bpy.context, motion, name="Bench")
        apply_s = time.perf_counter() - start
    finally:
        apply_module.write_channels, apply_module.pose_keys = real_write, real_pose_keys
    curves_per_person = len(keys.owner_fcurves(take.avatars[0].armature))
    fast_keys = people * frames * curves_per_person

    # baseline: keyframe_insert on a fresh copy of the rig, whole curves for a few bones
    person = apply_module.people_from_motion(motion)[0]
    collection = bpy.data.collections.new("Baseline")
    bpy.context.scene.collection.children.link(collection)
    avatar = rig.build_avatar("Baseline", collection, joint_names=list(motion.avatar.joint_names),
                              parents=motion.avatar.parents, rest_joints=person.rest_joints)
    location, quats = rig.pose_keys(avatar, person.global_orient, person.transl, person.local_rotations)
    bones = [avatar.armature.pose.bones[name] for name in BASELINE_BONES]
    index = [avatar.bone_names.index(name) for name in BASELINE_BONES]
    start, cpu = time.perf_counter(), time.process_time()
    for t in range(frames):
        frame = float(t + 1)
        bones[0].location = location[t]
        bones[0].keyframe_insert("location", frame=frame)
        for bone, j in zip(bones, index):
            bone.rotation_quaternion = quats[t, j]
            bone.keyframe_insert("rotation_quaternion", frame=frame)
    baseline_s = time.perf_counter() - start
    baseline_cpu = time.process_time() - cpu
    baseline_keys = frames * (3 + 4 * len(bones))
    assert len(keys.owner_fcurves(avatar.armature)) == 3 + 4 * len(bones)
    per_key_fast = key_time[0] / fast_keys
    per_key_slow = baseline_s / baseline_keys
    return {"people": people, "frames": frames, "curves_per_person": curves_per_person,
            "apply_s": apply_s, "keys_s": key_time[0],
            "frames_per_s_per_person": frames * people / key_time[0],
            "apply_frames_per_s_per_person": frames * people / apply_s,
            "fast_us_per_key": per_key_fast * 1e6, "baseline_us_per_key": per_key_slow * 1e6,
            "baseline_s": baseline_s, "baseline_estimated_full_s": per_key_slow * fast_keys,
            "ratio": per_key_slow / per_key_fast,
            "keys_cpu_s": key_cpu[0], "cpu_frames_per_s_per_person": frames * people / key_cpu[0],
            "cpu_ratio": (baseline_cpu / baseline_keys) / (key_cpu[0] / fast_keys)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--frames", type=int, default=3000)
    args = parser.parse_args()
    r = run(args.people, args.frames)
    print(f"bpy {bpy.app.version_string}: apply {r['people']} people x {r['frames']} frames "
          f"({r['curves_per_person']} curves per person)")
    print(f"  whole apply (rigs, meshes, keys, camera): {r['apply_s']:.3f} s "
          f"= {r['apply_frames_per_s_per_person']:,.0f} frames/s per person")
    print(f"  keys (pose conversion + foreach_set writer): {r['keys_s']:.3f} s "
          f"= {r['frames_per_s_per_person']:,.0f} frames/s per person, {r['fast_us_per_key']:.3f} us/key")
    print(f"  keyframe_insert baseline ({len(BASELINE_BONES)} bones, {r['frames']} frames): {r['baseline_s']:.2f} s, "
          f"{r['baseline_us_per_key']:.2f} us/key (whole take would take ~{r['baseline_estimated_full_s']:.0f} s)")
    print(f"  ratio (per key, same run): {r['ratio']:.0f}x   targets: >= 100x, >= 20,000 frames/s per person")
    print(f"  CPU time (this process; the machine is shared): keys {r['keys_cpu_s']:.3f} s = "
          f"{r['cpu_frames_per_s_per_person']:,.0f} frames/s per person, ratio {r['cpu_ratio']:.0f}x")
    ok = r["ratio"] >= 100 and r["frames_per_s_per_person"] >= 20000
    print("  targets met" if ok else "  TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
