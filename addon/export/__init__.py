"""Export: FBX, BVH and glTF through Blender's own exporters (:mod:`.formats`) and SMPL-X
parameters as an AMASS-style npz (:mod:`.amass`)."""
