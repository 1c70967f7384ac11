#!/usr/bin/env node
// Builds the CUDA addon with cmake-js into build/Release/liger_mhc_cuda.node.
//   node scripts/build-native.mjs             build; fail if nvcc is missing or the build fails
//   node scripts/build-native.mjs --if-nvcc   build only when nvcc exists; fail if that build fails (`build`)
//   LIGER_MHC_NVCC=/path/to/nvcc | none        pick the compiler, or skip the native build
//   node scripts/build-native.mjs --optional  never fail (`install`): without nvcc, or when the build
//                                             fails, the package still installs and the backend reports
//                                             "CUDA backend unavailable: <reason>" at initialisation.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = dirname(dirname(fileURLToPath(import.meta.url)));
const optional = process.argv.includes('--optional');
const ifNvcc = optional || process.argv.includes('--if-nvcc');

function findNvcc() {
  // LIGER_MHC_NVCC names the compiler, or 'none' to skip the native build (as if nvcc were absent).
  const forced = process.env.LIGER_MHC_NVCC;
  if (forced === 'none') return null;
  if (forced) return existsSync(forced) ? forced : null;
  const candidates = [];
  for (const v of ['CUDACXX']) if (process.env[v]) candidates.push(process.env[v]);
  for (const v of ['CUDA_HOME', 'CUDA_PATH'])
    if (process.env[v]) candidates.push(join(process.env[v], 'bin', 'nvcc'));
  for (const d of (process.env.PATH ?? '').split(delimiter)) if (d) candidates.push(join(d, 'nvcc'));
  candidates.push('/usr/local/cuda/bin/nvcc');
  return candidates.find((c) => existsSync(c)) ?? null;
}

const nvcc = findNvcc();
if (!nvcc) {
  const msg =
    '[cuda-native] nvcc not found: skipping the CUDA addon (the cuda backend will report itself unavailable)';
  if (ifNvcc) {
    console.log(msg);
    process.exit(0);
  }
  console.error(msg);
  process.exit(1);
}

let cmakeJs;
try {
  cmakeJs = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');
} catch {
  const msg = '[cuda-native] cmake-js is not installed: skipping the CUDA addon';
  console.log(msg);
  process.exit(optional ? 0 : 1);
}

const args = [
  cmakeJs,
  'compile',
  '--directory',
  pkgDir,
  '--out',
  join(pkgDir, 'build'),
  '--config',
  'Release',
];
const parallel = process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? '4';
const r = spawnSync(process.execPath, args, {
  stdio: 'inherit',
  cwd: pkgDir,
  env: { ...process.env, CUDACXX: nvcc, CMAKE_BUILD_PARALLEL_LEVEL: parallel },
});
if (r.status !== 0) {
  console.error(`[cuda-native] building the CUDA addon failed (exit ${r.status})`);
  process.exit(optional ? 0 : 1);
}
console.log(`[cuda-native] built ${join(pkgDir, 'build', 'Release', 'liger_mhc_cuda.node')}`);
