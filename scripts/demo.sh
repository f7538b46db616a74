#!/usr/bin/env bash
# `make demo`: the whole chain on the embedded default sample.
# footage -> worker capture -> motion.npz -> Blender (rig, keys, camera) -> out/demo.blend + preview,
# then accuracy against the sample's ground truth.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKER=.venv/worker/bin/python
BLENDER=.venv/blender/bin/python
SAMPLE=data/samples/default
mkdir -p out
if [ ! -f "$SAMPLE/footage.mp4" ] || [ ! -f "$SAMPLE/ground_truth.npz" ]; then
  echo "== generating the default ground-truth sample"
  $WORKER -m samples.generate default
fi
echo "== capture (worker)"
$WORKER -m core capture "$SAMPLE/footage.mp4" -o out/demo_motion.npz
echo "== animate (Blender)"
$BLENDER -m addon.cli animate out/demo_motion.npz --blend out/demo.blend \
  --footage "$SAMPLE/footage.mp4" --render out/demo_preview.png
echo "== accuracy against ground truth"
$WORKER -m core evaluate --motion out/demo_motion.npz --ground-truth "$SAMPLE/ground_truth.npz"
echo "demo done: out/demo.blend out/demo_preview.png"
