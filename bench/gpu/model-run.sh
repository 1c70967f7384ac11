#!/usr/bin/env bash
# Runs on the GPU machine, from the repository copy, after bench/gpu/model-bundle.sh (and, for cuda,
# bench/gpu/cuda-bundle.sh for the addon) built .gpu-build/: the GPT-2-small-like model benchmark
# on one backend. One part per call keeps each call under its time limit at 200 steps; the mHC
# overhead needs both residuals of a side in the same part, which every part has.
#   BACKEND=cuda PART=ours-eager bash bench/gpu/model-run.sh   (then PART=compile)
#   BACKEND=webgpu PART=ours bash bench/gpu/model-run.sh
# PART: ours-eager (ours and PyTorch eager, with the loss overlay), ours, eager, compile.
# Rows land in .gpu-build/model/results/results.csv (copied to $OUT); merge them here with
# `node bench/dist/tools/merge-results.js FILE`.
set -u
B=.gpu-build/model
OUT=${OUT:-/tmp/model-out}
BACKEND=${BACKEND:-cuda}
STEPS=${STEPS:-200}
case "${PART:-ours-eager}" in
  ours-eager) IMPL=ours,torch-eager ;;
  ours) IMPL=ours ;;
  eager) IMPL=torch-eager ;;
  compile) IMPL=torch-compile ;;
  *) echo "PART: expected ours-eager, ours, eager or compile, got '$PART'" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/card.txt"
if [ "$BACKEND" = cuda ]; then
  CB=$(find /usr/local/cuda*/targets /usr/local/cuda*/lib64 -name 'libcublas.so.1[0-9]*' 2>/dev/null | head -1)
  if [ -n "$CB" ]; then export LIGER_MHC_CUBLAS=$CB LD_LIBRARY_PATH=$(dirname "$CB"):${LD_LIBRARY_PATH:-}; fi
  export LIGER_MHC_CUDA_ADDON=${LIGER_MHC_CUDA_ADDON:-$PWD/.gpu-build/cuda/liger_mhc_cuda.node}
fi
PYTHONUNBUFFERED=1 timeout "${LIMIT:-540}" node "$B/dist/bin/model-${BACKEND}.mjs" --backend "$BACKEND" --size gpt2 \
  --steps "$STEPS" --warmup 10 --impl "$IMPL" --card "$CARD" 2>&1 | tee "$OUT/model-$BACKEND-${PART:-ours-eager}.log"
echo "model rc=${PIPESTATUS[0]}"
cp -r "$B/results/." "$OUT/model-results/" 2>/dev/null || true
