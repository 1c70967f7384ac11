#!/usr/bin/env bash
# Bundle the WebGPU GPU-machine entry points (Node has no npm there) into the git-ignored
# .gpu-build/webgpu/: the benchmark/check script as one ESM file, dawn.node where the `webgpu`
# package looks for it (dist/<platform>-<arch>/ next to the bundle), and the PyTorch anchor script.
# Run from the repo root:  bash tooling/gpu/webgpu-bundle.sh
set -euo pipefail
OUT=.gpu-build/webgpu
mkdir -p "$OUT/dist/linux-x64"
npx esbuild bench/src/webgpu-mhc-bench.ts --bundle --platform=node --format=esm --target=node20 \
  --alias:@liger-mhc/core=./packages/core/src/index.ts \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
  --outfile="$OUT/bench.mjs" --log-level=warning
# The CLI with the backend linked in (trains the mini LM with --backend webgpu); it finds its corpus
# at ../corpus, and dawn.node at cli/dist/linux-x64 (copied there by run.sh).
mkdir -p "$OUT/cli/dist/linux-x64" "$OUT/corpus"
npx esbuild tooling/gpu/webgpu-cli.ts --bundle --platform=node --format=esm --target=node20 \
  --alias:@liger-mhc/core/conformance=./packages/core/src/conformance/index.ts --alias:@liger-mhc/core=./packages/core/src/index.ts --alias:@liger-mhc/models=./packages/models/src/index.ts \
  --alias:@liger-mhc/patch=./packages/patch/src/index.ts --external:@liger-mhc/cuda-native \
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
  --outfile="$OUT/cli/cli.mjs" --log-level=warning
cp apps/cli/corpus/sotu-1790-1864.txt "$OUT/corpus/"
WEBGPU_DIR=$(node -e "console.log(require('path').dirname(require.resolve('webgpu/package.json', {paths: ['packages/webgpu-wgsl']})))")
cp "$WEBGPU_DIR/dist/linux-x64/dawn.node" "$OUT/dist/linux-x64/dawn.node"
rm -f "$OUT/cli/dist/linux-x64/dawn.node"  # run.sh copies it there (one copy travels)
cp bench/anchors/torch_mhc_bench.py "$OUT/torch_mhc_bench.py"
cp tooling/gpu/webgpu-run.sh "$OUT/run.sh"
# The device copy has no .git: record the commit (and whether the package had local edits) here.
{ git rev-parse HEAD; git status --porcelain packages/webgpu-wgsl | wc -l | sed 's/$/ uncommitted files in packages\/webgpu-wgsl/'; } >"$OUT/commit.txt"
du -sh "$OUT"
