"""Blender-free inference core: footage -> people -> keypoints -> SMPL-X fit -> motion file.

Never imports bpy. Runs in the worker environment (.venv/worker or the interpreter
chosen in the add-on preferences), usually as ``python -m core <command> ...``.
"""
