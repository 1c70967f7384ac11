#!/usr/bin/env node
// Builds the CUDA addon with cmake-js.
//   node scripts/build-native.mjs                  build from source for sm_90 (+ compute_90 PTX) into
//                                                  build/Release/liger_mhc_cuda.node; fails without nvcc
//   node scripts/build-native.mjs --prebuilt DIR   the fat binary of the platform package at DIR (sm_80 ..
//                                                  sm_120 + PTX), built in DIR/build and copied to
//                                                  DIR/liger_mhc_cuda.node
//   --if-nvcc    without nvcc, say so and succeed; a build that fails still fails
//   --optional   never fail (without nvcc or when the build fails, the backend reports itself
//                unavailable at initialisation)
//   --kernels a,b    with --prebuilt: a fat binary of only these kernel files (a quick check of the
//                    target list and of the package's loader where the full build takes too long,
//                    as in CI), built in DIR/build-subset; it lacks most ops and is not for release
// LIGER_MHC_NVCC=/path/to/nvcc picks the compiler; LIGER_MHC_NVCC=none skips the build as if nvcc were
// absent. CMAKE_BUILD_PARALLEL_LEVEL sets the number of parallel compile jobs (default: the CPUs).
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, fsyncSync, openSync, readFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { listFatbin, missingTargets, PREBUILT_TARGETS } from './list-fatbin.mjs';

const pkgDir = dirname(dirname(fileURLToPath(import.meta.url)));
const ADDON_FILE = 'liger_mhc_cuda.node';

let opts;
try {
  opts = parseArgs({
    options: {
      prebuilt: { type: 'string' },
      'if-nvcc': { type: 'boolean', default: false },
      optional: { type: 'boolean', default: false },
      kernels: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (e) {
  console.error(`[cuda-native] build-native: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(2);
}
const optional = opts.optional;
const ifNvcc = optional || opts['if-nvcc'];
const prebuiltDir = opts.prebuilt === undefined ? null : resolve(opts.prebuilt);
const kernels = opts.kernels === undefined ? null : opts.kernels.split(',').filter(Boolean);
if (kernels && (!prebuiltDir || kernels.length === 0 || kernels.some((k) => !/^[a-z0-9_]+$/.test(k)))) {
  console.error('[cuda-native] build-native: --kernels takes kernel file names (a,b) and needs --prebuilt');
  process.exit(2);
}

/** nvcc from LIGER_MHC_NVCC, CUDACXX, CUDA_HOME/CUDA_PATH, PATH or /usr/local/cuda, or null. */
function findNvcc(env = process.env) {
  const forced = env.LIGER_MHC_NVCC;
  if (forced === 'none') return null;
  if (forced) return existsSync(forced) ? forced : null;
  const candidates = [];
  if (env.CUDACXX) candidates.push(env.CUDACXX);
  for (const v of ['CUDA_HOME', 'CUDA_PATH']) if (env[v]) candidates.push(join(env[v], 'bin', 'nvcc'));
  for (const d of (env.PATH ?? '').split(delimiter)) if (d) candidates.push(join(d, 'nvcc'));
  candidates.push('/usr/local/cuda/bin/nvcc');
  return candidates.find((c) => existsSync(c)) ?? null;
}

function giveUp(msg) {
  console.error(`[cuda-native] ${msg}`);
  process.exit(optional ? 0 : 1);
}

const nvcc = findNvcc();
if (!nvcc) {
  const msg = prebuiltDir
    ? 'nvcc not found: skipping the prebuilt CUDA addon (set LIGER_MHC_NVCC or put a CUDA toolkit on PATH to build it)'
    : 'nvcc not found: skipping the CUDA addon (install a CUDA toolkit with nvcc on PATH or CUDA_HOME, or use the prebuilt package @liger-mhc/cuda-native-linux-x64-gnu)';
  if (ifNvcc) {
    console.log(`[cuda-native] ${msg}`);
    process.exit(0);
  }
  giveUp(msg);
}

let cmakeJs;
try {
  cmakeJs = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');
} catch {
  giveUp(
    'cmake-js is not installed (an optional dependency of @liger-mhc/cuda-native): cannot build the CUDA addon',
  );
}

if (prebuiltDir) {
  // The platform package must carry the same version as this package (the loader checks both).
  const own = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  const plat = JSON.parse(readFileSync(join(prebuiltDir, 'package.json'), 'utf8')).version;
  if (own !== plat) giveUp(`version mismatch: @liger-mhc/cuda-native is ${own}, ${prebuiltDir} is ${plat}`);
}

const outDir = prebuiltDir ? join(prebuiltDir, kernels ? 'build-subset' : 'build') : join(pkgDir, 'build');
const args = [cmakeJs, 'compile', '--directory', pkgDir, '--out', outDir, '--config', 'Release'];
if (prebuiltDir) args.push('--CDLIGER_MHC_PREBUILT=ON');
// Always passed, so a build directory never keeps a subset from an earlier run in its cache.
args.push(`--CDLIGER_MHC_KERNELS=${kernels ? kernels.join(';') : ''}`);
const parallel = process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? String(availableParallelism());
const r = spawnSync(process.execPath, args, {
  stdio: 'inherit',
  cwd: pkgDir,
  env: { ...process.env, CUDACXX: nvcc, CMAKE_BUILD_PARALLEL_LEVEL: parallel },
});
if (r.status !== 0) giveUp(`building the CUDA addon failed (exit ${r.status})`);
const built = join(outDir, 'Release', ADDON_FILE);
if (prebuiltDir) {
  // Every translation unit must carry every target the platform package promises; a flag lost in
  // CMakeLists.txt would otherwise show only on that card, at run time.
  let missing;
  try {
    missing = missingTargets(listFatbin(readFileSync(built)), PREBUILT_TARGETS);
  } catch (e) {
    giveUp(`cannot read the GPU code of ${built}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (missing.length) giveUp(`${built} lacks GPU code for ${missing.join(', ')} in some translation unit`);
  if (kernels) {
    // A subset lacks most ops: it stays in its build directory, never where the package ships it.
    console.log(`[cuda-native] built ${built} (only ${kernels.join(', ')}: not for release)`);
  } else {
    // Copied atomically: a half-written .node in the package would load as a corrupt binary.
    const dest = join(prebuiltDir, ADDON_FILE);
    const tmp = `${dest}.tmp-${process.pid}`;
    copyFileSync(built, tmp);
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, dest);
    console.log(`[cuda-native] built ${dest}`);
  }
} else {
  console.log(`[cuda-native] built ${built}`);
}
