#!/usr/bin/env bash
# Everything the CUDA backend checks and measures on the GPU machine, in one call (device time is
# short). Run from the repository root there, after `source .device/enter.sh`, with .gpu-build/cuda
# carried (tooling/gpu/cuda-bundle.sh builds it). Results go to $OUT. SKIP_TRAIN=1 leaves out the
# mini-LM run; PEAK_SHAPES=8192x4x4096 limits the PyTorch peak-memory script to that shape.
set -u
B=.gpu-build/cuda
OUT=${OUT:-/tmp/cuda-out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
# cuBLAS from the toolkit on that machine (opened at run time by the addon)
CB=$(find /usr/local/cuda*/targets /usr/local/cuda*/lib64 -name 'libcublas.so.1[0-9]*' 2>/dev/null | head -1)
if [ -n "$CB" ]; then export LIGER_MHC_CUBLAS=$CB LD_LIBRARY_PATH=$(dirname "$CB"):${LD_LIBRARY_PATH:-}; fi
echo "cublas: ${CB:-none}"

echo "== checks"
timeout 180 node $B/check.mjs packages/core/fixtures/golden "$OUT" >"$OUT/check.log" 2>&1
echo "check rc=$?"
grep -v '^  FAIL' "$OUT/check.log" | head -40
grep 'FAIL' "$OUT/check.log" | head -20

echo "== per-kernel profile (8192x4x4096)"
LIGER_MHC_CUDA_PROFILE=1 timeout 60 node $B/bench.mjs /tmp 8192x4x4096 profile 2>&1 | grep '^\[profile\]' | tail -6
if command -v cuobjdump >/dev/null; then
  cuobjdump -res-usage $B/liger_mhc_cuda.node 2>/dev/null | grep -A1 -E 'coeffsBwdXMmaILi4E|coeffsBwdXI13__nv_bfloat16Li24ELi2|coeffsFwdMmaI13__nv_bfloat16Li4E|coeffsBwdTokenILi4E|coeffsPreFwd' | grep -o 'Function [^:]*\|REG:[0-9]*.*' | head -16
fi

if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  echo "== mini LM training on cuda (200 steps)"
  LIGER_MHC_CUDA_ADDON=$PWD/$B/liger_mhc_cuda.node timeout 120 node $B/cli/cli.mjs train --backend cuda --steps 200 --out /tmp/run-cuda >"$OUT/train-cuda.log" 2>&1
  echo "train rc=$?"
  grep -E 'training|step 200|loss .* ->' "$OUT/train-cuda.log" | tail -3
  cp /tmp/run-cuda/loss.json "$OUT/train-cuda-loss.json" 2>/dev/null
fi

echo "== benchmark"
timeout 150 node $B/bench.mjs "$OUT" >"$OUT/bench.log" 2>&1
echo "bench rc=$?"
tail -48 "$OUT/bench.log"

echo "== PyTorch anchor"
(cd $B && PYTHONUNBUFFERED=1 timeout 170 python3 torch_mhc_bench.py --device cuda --dtype bf16 >"$OUT/torch.log" 2>&1; echo "torch rc=$?")
tail -14 "$OUT/torch.log"
(cd $B && PYTHONUNBUFFERED=1 timeout 80 python3 torch_peak_memory.py --anchor-dir . ${PEAK_SHAPES:+--shapes $PEAK_SHAPES} >"$OUT/torch-peak.log" 2>&1; echo "peak rc=$?")
tail -6 "$OUT/torch-peak.log"
