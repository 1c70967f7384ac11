#!/usr/bin/env bash
# Runs on the GPU machine, from the repository copy, after bench/gpu/cuda-bundle.sh built
# .gpu-build/cuda: the conformance kit on the card, the benchmark rows, the mini LM trained on the
# card, then the PyTorch anchor and its peak memory, in one call so the figures share a card.
# Everything lands in $OUT; `node bench/dist/tools/merge-results.js $OUT/results.csv --anchor
# $OUT/torch.log` adds the rows.
#   bash .gpu-build/cuda/cuda-run.sh    (env: SHAPES, SKIP_TRAIN=1, PEAK_SHAPES=8192x4x4096)
set -u
B=.gpu-build/cuda
OUT=${OUT:-/tmp/cuda-out}
SHAPES=${SHAPES:-8192x4x4096,16384x4x2048,32768x4x1024}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader | tee "$OUT/card.txt"
cp "$B/commit.txt" "$OUT/commit.txt"
# cuBLAS from the toolkit on that machine (opened at run time by the addon).
CB=$(find /usr/local/cuda*/targets /usr/local/cuda*/lib64 -name 'libcublas.so.1[0-9]*' 2>/dev/null | head -1)
if [ -n "$CB" ]; then export LIGER_MHC_CUBLAS=$CB LD_LIBRARY_PATH=$(dirname "$CB"):${LD_LIBRARY_PATH:-}; fi
export LIGER_MHC_CUDA_ADDON=$PWD/$B/liger_mhc_cuda.node
echo "== conformance kit on cuda"
timeout 300 node $B/cli/cli.mjs conformance --backend cuda 2>&1 | tail -5 | tee "$OUT/conformance.log"
echo "== benchmark"
timeout 200 node $B/bench.mjs --shapes "$SHAPES" --results "$OUT/results.csv" 2>&1 | tee "$OUT/bench.log"
if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  echo "== mini LM training on cuda (200 steps)"
  timeout 120 node $B/cli/cli.mjs train --backend cuda --steps 200 --out /tmp/run-cuda >"$OUT/train-cuda.log" 2>&1
  echo "train rc=$?"
  tail -3 "$OUT/train-cuda.log"
fi
echo "== PyTorch anchor"
(cd $B && PYTHONUNBUFFERED=1 timeout 170 python3 torch_mhc_bench.py --device cuda --dtype bf16 --shapes "$SHAPES" >"$OUT/torch.log" 2>&1; echo "torch rc=$?")
tail -14 "$OUT/torch.log"
(cd $B && PYTHONUNBUFFERED=1 timeout 80 python3 torch_peak_memory.py --anchor-dir . ${PEAK_SHAPES:+--shapes $PEAK_SHAPES} >"$OUT/torch-peak.log" 2>&1; echo "peak rc=$?")
tail -6 "$OUT/torch-peak.log"
