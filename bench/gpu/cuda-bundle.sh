#!/usr/bin/env bash
# Build what the GPU machine runs for the CUDA backend into the git-ignored .gpu-build/cuda: the
# addon (built here with nvcc), the benchmark (bench/src/cuda/main.ts) and the CLI with the backend
# linked in (conformance kit, mini-LM training) as ESM bundles, the PyTorch anchor and peak-memory
# scripts, the run script and the commit. Run from the repository root: bash bench/gpu/cuda-bundle.sh
set -euo pipefail
out=.gpu-build/cuda
mkdir -p "$out/cli" "$out/corpus"
# ADDON=prebuilt bundles the fat binary of the platform package (what users install) instead.
if [ "${ADDON:-source}" = prebuilt ]; then
  pnpm --filter @liger-mhc/cuda-native-linux-x64-gnu build
  cp packages/cuda-native-linux-x64-gnu/liger_mhc_cuda.node "$out/"
else
  pnpm --filter @liger-mhc/cuda-native build:native
  cp packages/cuda-native/build/Release/liger_mhc_cuda.node "$out/"
fi
alias=(--alias:@liger-mhc/conformance=./packages/conformance/src/index.node.ts
  --alias:@liger-mhc/core/internals=./packages/core/src/internals.ts
  --alias:@liger-mhc/core=./packages/core/src/index.node.ts
  --alias:@liger-mhc/cuda-native=./packages/cuda-native/src/index.ts
  --alias:@liger-mhc/models/parity=./packages/models/src/parity-fixtures.ts
  --alias:@liger-mhc/models=./packages/models/src/index.ts
  --alias:@liger-mhc/patch=./packages/patch/src/index.ts)
common=(--bundle --platform=node --format=esm --target=node20 --external:*.node --external:webgpu
  --external:@liger-mhc/webgpu-wgsl --log-level=warning
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);")
npx esbuild bench/src/cuda/main.ts "${common[@]}" "${alias[@]}" --outfile="$out/bench.mjs"
npx esbuild bench/gpu/cuda-attention-check.ts "${common[@]}" "${alias[@]}" --outfile="$out/attention-check.mjs"
printf "import '@liger-mhc/cuda-native';\nimport './apps/cli/src/main.ts';\n" |
  npx esbuild "${common[@]}" "${alias[@]}" --sourcefile=cuda-cli.ts --loader=ts --outfile="$out/cli/cli.mjs"
# The bundled CLI reads its version from ../package.json and the kit's fixtures from ../fixtures
# (the layout of the packages it came from). The fixtures are a link to the tracked copy, which
# travels with the repository anyway, so the carried bundle stays small.
cp apps/cli/package.json "$out/package.json"
rm -rf "$out/fixtures"
ln -s ../../packages/conformance/fixtures "$out/fixtures"
cp apps/cli/corpus/sotu-1790-1864.txt "$out/corpus/"
cp bench/anchors/torch_mhc_bench.py bench/anchors/torch_peak_memory.py bench/gpu/cuda-run.sh "$out/"
src=(packages/core packages/conformance packages/cuda-native packages/models packages/patch apps/cli bench/src bench/anchors bench/gpu)
{ git rev-parse --short HEAD; if [ -n "$(git status --porcelain -- "${src[@]}")" ]; then echo -n "+dirty"; fi; } | tr -d '\n' >"$out/commit.txt"
du -sh "$out"
