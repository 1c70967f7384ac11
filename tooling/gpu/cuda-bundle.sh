#!/usr/bin/env bash
# Build what the GPU machine runs for the CUDA backend into .gpu-build/cuda (git-ignored):
# the addon (built here with nvcc), the check and benchmark bundles (esbuild, Node ESM), the PyTorch
# anchor script and the peak-memory script. Run from the repository root.
set -euo pipefail
out=.gpu-build/cuda
mkdir -p "$out"
pnpm --filter @liger-mhc/cuda-native build:native
cp packages/cuda-native/build/Release/liger_mhc_cuda.node "$out/"
# core from source, so the bundle does not depend on core's dist being current
alias=(--alias:@liger-mhc/core/conformance=./packages/core/src/conformance/index.ts --alias:@liger-mhc/core=./packages/core/src/index.ts
  --alias:@liger-mhc/models=./packages/models/src/index.ts --alias:@liger-mhc/patch=./packages/patch/src/index.ts)
common=(--bundle --platform=node --format=esm --target=node20 --external:*.node --external:webgpu --external:@liger-mhc/webgpu-wgsl --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);")
npx esbuild tooling/gpu/cuda-check.ts "${common[@]}" "${alias[@]}" --outfile="$out/check.mjs" --log-level=warning
npx esbuild bench/src/cuda-mhc-layer.ts "${common[@]}" "${alias[@]}" --outfile="$out/bench.mjs" --log-level=warning
# The CLI with the backend linked in; it finds its corpus at ../corpus from the bundle.
npx esbuild tooling/gpu/cuda-cli.ts "${common[@]}" "${alias[@]}" --external:@liger-mhc/cuda-native --outfile="$out/cli/cli.mjs" --log-level=warning
mkdir -p "$out/corpus"
cp apps/cli/corpus/sotu-1790-1864.txt "$out/corpus/"
cp bench/anchors/torch_peak_memory.py "$out/"
# The commit the results belong to (plus a mark when the tree has uncommitted changes).
{ git rev-parse --short HEAD 2>/dev/null || echo unknown; } | tr -d '\n' >"$out/commit.txt"
# (only the sources that go into this bundle count)
src=(packages/core packages/cuda-native packages/models packages/patch apps/cli bench/src/cuda-mhc-layer.ts
  bench/anchors tooling/gpu/cuda-check.ts tooling/gpu/cuda-cli.ts tooling/gpu/cuda-run.sh)
if [ -n "$(git status --porcelain -- "${src[@]}" 2>/dev/null)" ]; then echo -n "+dirty" >>"$out/commit.txt"; fi
cp bench/anchors/torch_mhc_bench.py "$out/"
du -sh "$out"
