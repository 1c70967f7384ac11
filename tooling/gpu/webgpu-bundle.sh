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
WEBGPU_DIR=$(node -e "console.log(require('path').dirname(require.resolve('webgpu/package.json', {paths: ['packages/webgpu-wgsl']})))")
cp "$WEBGPU_DIR/dist/linux-x64/dawn.node" "$OUT/dist/linux-x64/dawn.node"
ANCHOR=../shared/anchors/torch_mhc_bench.py
if [ -f "$ANCHOR" ]; then cp "$ANCHOR" "$OUT/torch_mhc_bench.py"; fi
cp tooling/gpu/webgpu-run.sh "$OUT/run.sh"
# The device copy has no .git: record the commit (and whether the package had local edits) here.
{ git rev-parse HEAD; git status --porcelain packages/webgpu-wgsl | wc -l | sed 's/$/ uncommitted files in packages\/webgpu-wgsl/'; } >"$OUT/commit.txt"
du -sh "$OUT"
