#!/usr/bin/env bash
# Bundle what the GPU machine runs for the WebGPU backend (it has Node but no npm) into the
# git-ignored .gpu-build/webgpu/: the benchmark (bench/src/webgpu/main.ts) and the CLI with the
# backend linked in (conformance kit, mini-LM training) as ESM files, dawn.node where the `webgpu`
# package looks for it (dist/<platform>-<arch>/ next to each bundle), the PyTorch anchor script, the
# run script and the commit. Run from the repository root:  bash bench/gpu/webgpu-bundle.sh
set -euo pipefail
OUT=.gpu-build/webgpu
mkdir -p "$OUT/dist/linux-x64" "$OUT/cli/dist/linux-x64" "$OUT/corpus"
# Packages from source, so the bundle does not depend on their dist being current.
alias=(--alias:@liger-mhc/conformance=./packages/conformance/src/index.node.ts
  --alias:@liger-mhc/core/internals=./packages/core/src/internals.ts
  --alias:@liger-mhc/core=./packages/core/src/index.node.ts
  --alias:@liger-mhc/webgpu-wgsl/internals=./packages/webgpu-wgsl/src/internals.ts
  --alias:@liger-mhc/webgpu-wgsl=./packages/webgpu-wgsl/src/index.node.ts
  --alias:@liger-mhc/models/parity=./packages/models/src/parity-fixtures.ts
  --alias:@liger-mhc/models=./packages/models/src/index.ts
  --alias:@liger-mhc/patch=./packages/patch/src/index.ts)
common=(--bundle --platform=node --format=esm --target=node20 --external:@liger-mhc/cuda-native --log-level=warning
  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);")
npx esbuild bench/src/webgpu/main.ts "${common[@]}" "${alias[@]}" --outfile="$OUT/bench.mjs"
# The CLI with the backend imported first, so 'webgpu' is registered before the CLI picks a backend.
printf "import '@liger-mhc/webgpu-wgsl';\nimport './apps/cli/src/main.ts';\n" |
  npx esbuild "${common[@]}" "${alias[@]}" --sourcefile=webgpu-cli.ts --loader=ts --outfile="$OUT/cli/cli.mjs"
# The bundled CLI reads its version from ../package.json and the kit's fixtures from ../fixtures
# (the layout of the packages it came from). The fixtures are a link to the tracked copy, which
# travels with the repository anyway, so the carried bundle stays small.
cp apps/cli/package.json "$OUT/package.json"
rm -rf "$OUT/fixtures"
ln -s ../../packages/conformance/fixtures "$OUT/fixtures"
cp apps/cli/corpus/sotu-1790-1864.txt "$OUT/corpus/"
WEBGPU_DIR=$(node -e "console.log(require('path').dirname(require.resolve('webgpu/package.json', {paths: ['packages/webgpu-wgsl']})))")
cp "$WEBGPU_DIR/dist/linux-x64/dawn.node" "$OUT/dist/linux-x64/dawn.node"
cp bench/anchors/torch_mhc_bench.py "$OUT/"
cp bench/gpu/webgpu-run.sh "$OUT/run.sh"
# The device copy has no .git: record the commit, marked when the sources that went in had edits.
src=(packages/core packages/conformance packages/webgpu-wgsl packages/models packages/patch apps/cli bench/src bench/anchors bench/gpu)
{ git rev-parse --short HEAD; if [ -n "$(git status --porcelain -- "${src[@]}")" ]; then echo -n "+dirty"; fi; } | tr -d '\n' >"$OUT/commit.txt"
du -sh "$OUT"
