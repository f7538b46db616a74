"""Ground-truth sample footage made by the project itself.

Scripted SMPL-X motions (:mod:`samples.motions`) are played on mannequin-x figures
placed in scenes with a known camera (:mod:`samples.scenes`); the worker side
(:mod:`samples.pose`, numpy>=2, mannequin-x) poses the meshes and joints, the bpy
side (:mod:`samples.render`, numpy<2) renders them with Workbench, and
:mod:`samples.generate` ties both together into ``data/samples/<name>/``:
``footage.mp4``, ``ground_truth.npz`` (motion-file format plus the true joints) and
``id_mask.npz`` (which figure covers each pixel).
"""
