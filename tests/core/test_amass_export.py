"""The add-on's AMASS-style npz (``addon.export.amass``) is read by the ``smplx`` package:
smplx forward kinematics with the exported parameters reproduce the avatar's joints in
Blender's world.

The avatar is built and animated by the add-on in Blender's Python (``.venv/blender``,
a real subprocess); the model file is a synthetic SMPL-X file in the official layout
(``models.smplx_files.write_smplx_npz``) whose rest joints are the avatar's.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from models.smplx_files import write_smplx_npz

REPO = Path(__file__).resolve().parents[2]
BLENDER_PYTHON = REPO / ".venv" / "blender" / "bin" / "python"

BLENDER_SCRIPT = textwrap.dedent('''
    import os, sys, tempfile
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp()
    import bpy
    import numpy as np
    from addon import keys, rig
    from addon.export.amass import write_amass
    from addon.retarget.smplx_names import SMPLX_JOINT_NAMES, SMPLX_PARENTS

    rest = np.load(sys.argv[1])["joints"]
    out_amass, out_joints = sys.argv[2], sys.argv[3]
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start, scene.frame_end = 30, 1, 20
    av = rig.build_avatar("capture", scene.collection, joint_names=SMPLX_JOINT_NAMES,
                          parents=np.array(SMPLX_PARENTS), rest_joints=rest)
    rng = np.random.default_rng(4)
    t = np.arange(20)[:, None]
    go = np.array([np.pi, 0.0, 0.0]) + 0.4 * np.sin(0.3 * t + rng.uniform(0, 6, 3))
    transl = np.array([0.1, -0.2, 3.0]) + 0.3 * np.sin(0.2 * t + rng.uniform(0, 6, 3))
    local = 0.5 * np.sin(0.25 * t[:, :, None] + rng.uniform(0, 6, (1, 55, 3))) * rng.uniform(0.2, 1, (1, 55, 3))
    location, quats = rig.pose_keys(av, go, transl, local)
    keys.write_channels(av.armature, np.arange(1, 21, dtype=np.float64), rig.pose_channels(av, location, quats))
    write_amass(bpy.context, av.armature, out_amass)
    heads = []
    for f in range(1, 21):
        scene.frame_set(f)
        heads.append([list(av.armature.matrix_world @ av.armature.pose.bones[n].head) for n in SMPLX_JOINT_NAMES])
    np.save(out_joints, np.array(heads))
''')


@pytest.mark.skipif(not BLENDER_PYTHON.exists(), reason="needs the Blender environment (.venv/blender)")
def test_smplx_reads_the_amass_export(tmp_path):
    import smplx

    model_file = write_smplx_npz(tmp_path / "models" / "SMPLX_NEUTRAL.npz")
    with np.load(model_file) as m:
        rest = m["J_regressor"] @ m["v_template"]            # the model's rest joints (betas 0)
    np.savez(tmp_path / "rest.npz", joints=rest)
    script = tmp_path / "export.py"
    script.write_text(BLENDER_SCRIPT)
    amass_path, joints_path = tmp_path / "take_poses.npz", tmp_path / "joints.npy"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([str(BLENDER_PYTHON), str(script), str(tmp_path / "rest.npz"), str(amass_path),
                           str(joints_path)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

    data = np.load(amass_path, allow_pickle=False)
    frames = len(data["poses"])
    assert data["poses"].shape == (frames, 165) and data["trans"].shape == (frames, 3)
    assert str(data["surface_model_type"]) == "smplx" and float(data["mocap_framerate"]) == 30.0
    assert np.allclose(data["poses"][:, :3], data["root_orient"])
    assert np.allclose(data["poses"][:, 3:66], data["pose_body"])
    assert np.allclose(data["poses"][:, 75:], data["pose_hand"])

    # the smplx package loads the model file; its own LBS poses it with the exported full
    # pose (T,165: smplx's order) and betas. (SMPLX.forward also adds landmark joints from
    # fixed vertex ids, which this small synthetic mesh lacks; the 55 joints come from lbs.)
    from smplx.lbs import lbs

    model = smplx.SMPLX(str(model_file.parent), num_betas=10, use_pca=False, flat_hand_mean=True)
    assert not model.pose_mean.abs().any()        # flat hands: the exported hand poses are absolute
    poses = torch.tensor(data["poses"], dtype=torch.float32)
    shape = torch.cat([torch.tensor(data["betas"], dtype=torch.float32)[None].expand(frames, -1),
                       torch.zeros(frames, model.num_expression_coeffs)], dim=1)
    _, joints_t = lbs(shape, poses + model.pose_mean, model.v_template,
                      torch.cat([model.shapedirs, model.expr_dirs], dim=-1), model.posedirs, model.J_regressor,
                      model.parents, model.lbs_weights)
    joints_t = joints_t + torch.tensor(data["trans"], dtype=torch.float32)[:, None]
    assert data["pose_eye"].shape == (frames, 6) and data["pose_jaw"].shape == (frames, 3)
    joints = joints_t[:, :55].detach().numpy()
    blender = np.load(joints_path)
    error = np.linalg.norm(joints - blender, axis=-1)
    print(f"AMASS -> smplx joints vs Blender bones: max {error.max() * 1000:.3f} mm, mean {error.mean() * 1000:.3f} mm")
    assert error.max() < 1e-3
    assert np.ptp(blender, axis=0).max() > 0.1        # the avatar really moved
