#!/usr/bin/env bash
# Runs on the GPU machine (after `source .device/enter.sh`): the WebGPU checks and benchmark, then the
# PyTorch anchors, all in one call so the timings share a card. Results go to $OUT.
#   bash .gpu-build/webgpu/run.sh    (env: SHAPES, SOAK, NO_TORCH=1, TORCH_TIMEOUT)
set -uo pipefail
B=.gpu-build/webgpu
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/card.txt"
# The card's clocks, power and utilisation through the run (5 samples a second), beside the results.
nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_event_reasons.active,utilization.gpu \
  --format=csv -lms 200 >"$OUT/smi.csv" 2>&1 &
SMI=$!
trap 'kill $SMI 2>/dev/null' EXIT
cp "$B/commit.txt" "$OUT/commit.txt" 2>/dev/null && cat "$OUT/commit.txt"
node "$B/bench.mjs" "$OUT" "${SHAPES:-8192x4x4096,32768x4x1024}" "${SOAK:-10000}" 2>&1 | tee "$OUT/webgpu-bench.log"
# The mini LM on this card through the WebGPU backend (TRAIN_STEPS=0 skips it); its per-step
# losses go to train-webgpu-loss.json (to compare with the CPU backend running the same command).
if [ "${TRAIN_STEPS:-200}" != 0 ] && [ -f "$B/cli/cli.mjs" ]; then
  echo "== mini LM training on webgpu (${TRAIN_STEPS:-200} steps)"
  mkdir -p "$B/cli/dist/linux-x64" && cp "$B/dist/linux-x64/dawn.node" "$B/cli/dist/linux-x64/"
  timeout 300 node "$B/cli/cli.mjs" train --backend webgpu --steps "${TRAIN_STEPS:-200}" --out run-webgpu >"$OUT/train-webgpu.log" 2>&1
  echo "train rc=$?"
  grep -E "training|step ${TRAIN_STEPS:-200}|loss .* ->" "$OUT/train-webgpu.log" | tail -3
  cp run-webgpu/loss.json "$OUT/train-webgpu-loss.json" 2>/dev/null
fi
# NO_TORCH=1 skips the PyTorch anchors (iteration runs; the final figures keep them).
if [ -f "$B/torch_mhc_bench.py" ] && [ -z "${NO_TORCH:-}" ]; then
  PYTHONUNBUFFERED=1 timeout "${TORCH_TIMEOUT:-240}" python3 "$B/torch_mhc_bench.py" --device cuda --dtype bf16 \
    --shapes "${SHAPES:-8192x4x4096,32768x4x1024}" 2>&1 | grep -v Warning | tee "$OUT/torch-anchor.log"
fi
