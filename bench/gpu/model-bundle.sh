#!/usr/bin/env bash
# Bundle the model benchmark (bench/src/model-gpt.ts) for the GPU machine, which has Node, Python
# and PyTorch but no npm, into the git-ignored .gpu-build/model/: one ESM file per GPU backend with
# that backend linked in, laid out as the benchmark expects its neighbours (the PyTorch twin in
# ../../anchors, the corpus in ../../../apps/cli/corpus, the results table in ../../results), plus
# dawn.node next to the WebGPU bundle and the commit. The CUDA bundle loads the addon named by
# LIGER_MHC_CUDA_ADDON (cuda-bundle.sh builds it). Run from the repository root:
#   bash bench/gpu/model-bundle.sh
set -euo pipefail
root=.gpu-build/model
bin=$root/dist/bin
mkdir -p "$bin/dist/linux-x64" "$root/anchors" "$root/results" .gpu-build/apps/cli/corpus
alias=(--alias:@liger-mhc/core/internals=./packages/core/src/internals.ts
  --alias:@liger-mhc/core=./packages/core/src/index.node.ts
  --alias:@liger-mhc/cuda-native=./packages/cuda-native/src/index.ts
  --alias:@liger-mhc/webgpu-wgsl=./packages/webgpu-wgsl/src/index.node.ts
  --alias:@liger-mhc/models=./packages/models/src/index.ts)
common=(--bundle --platform=node --format=esm --target=node20 --external:*.node --log-level=warning
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);")
for be in cuda-native webgpu-wgsl; do
  printf "import '@liger-mhc/%s';\nimport './bench/src/model-gpt.ts';\n" "$be" |
    npx esbuild "${common[@]}" "${alias[@]}" --sourcefile="model-$be.ts" --loader=ts \
      --outfile="$bin/model-${be%%-*}.mjs"
done
WEBGPU_DIR=$(node -e "console.log(require('path').dirname(require.resolve('webgpu/package.json', {paths: ['packages/webgpu-wgsl']})))")
cp "$WEBGPU_DIR/dist/linux-x64/dawn.node" "$bin/dist/linux-x64/dawn.node"
cp bench/anchors/gpt_twin.py "$root/anchors/"
cp apps/cli/corpus/sotu-1790-1864.txt .gpu-build/apps/cli/corpus/
# The device copy has no .git: record the commit, marked when the sources that went in had edits.
src=(packages/core packages/cuda-native packages/webgpu-wgsl packages/models bench/src bench/anchors bench/gpu)
{ git rev-parse --short HEAD; if [ -n "$(git status --porcelain -- "${src[@]}")" ]; then echo -n "+dirty"; fi; } | tr -d '\n' >"$bin/commit.txt"
du -sh "$root"
