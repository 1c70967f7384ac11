#!/usr/bin/env bash
# Runs on the GPU machine, from the repository copy, after bench/gpu/webgpu-bundle.sh built
# .gpu-build/webgpu: the conformance kit on the card, the benchmark rows, the mini LM trained on the
# card, then the PyTorch anchor, all in one call so the figures share a card. Everything lands in
# $OUT; `node bench/dist/tools/merge-results.js $OUT/results.csv --anchor $OUT/torch-anchor.log`
# adds the rows to the table.
#   bash .gpu-build/webgpu/run.sh    (env: SHAPES, TRIALS, TRAIN_STEPS=0, NO_TORCH=1, TORCH_TIMEOUT)
set -uo pipefail
B=.gpu-build/webgpu
OUT=${OUT:-/tmp/out}
SHAPES=${SHAPES:-8192x4x4096,32768x4x1024}
mkdir -p "$OUT"
CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/card.txt"
cp "$B/commit.txt" "$OUT/commit.txt" && cat "$OUT/commit.txt" && echo
mkdir -p "$B/cli/dist/linux-x64" && cp "$B/dist/linux-x64/dawn.node" "$B/cli/dist/linux-x64/"
echo "== conformance kit on webgpu"
timeout 300 node "$B/cli/cli.mjs" conformance --backend webgpu 2>&1 | tail -5 | tee "$OUT/conformance.log"
echo "== benchmark"
node "$B/bench.mjs" --shapes "$SHAPES" --trials "${TRIALS:-7}" --card "$CARD" --results "$OUT/results.csv" 2>&1 |
  tee "$OUT/bench.log"
if [ "${TRAIN_STEPS:-200}" != 0 ]; then
  echo "== mini LM training on webgpu (${TRAIN_STEPS:-200} steps)"
  timeout 300 node "$B/cli/cli.mjs" train --backend webgpu --steps "${TRAIN_STEPS:-200}" --out run-webgpu >"$OUT/train-webgpu.log" 2>&1
  echo "train rc=$?"
  tail -3 "$OUT/train-webgpu.log"
  cp run-webgpu/loss.json "$OUT/train-webgpu-loss.json" 2>/dev/null
fi
if [ -z "${NO_TORCH:-}" ]; then
  echo "== PyTorch anchor"
  PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-240}" python3 "$B/torch_mhc_bench.py" --device cuda --dtype bf16 \
    --shapes "$SHAPES" 2>&1 | grep -v Warning | tee "$OUT/torch-anchor.log"
fi
