#!/usr/bin/env node
// The package's install step. It never fails the installation: where no addon can be had, the backend
// says why when it is created (CudaUnavailableError 'no-addon').
// - The prebuilt addon (@liger-mhc/cuda-native-linux-x64-gnu, an optional dependency) is installed:
//   nothing to do.
// - Inside this repository's workspace: nothing to do either. `pnpm build` builds the prebuilt
//   addon in packages/cuda-native-linux-x64-gnu, and `pnpm --filter @liger-mhc/cuda-native
//   build:native` a single-architecture one for kernel work, so installing does not compile CUDA.
// - Otherwise (another platform, or optional dependencies omitted): build from source when nvcc and
//   cmake-js are there, else say what to install.
// LIGER_MHC_NVCC=none skips all of it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = dirname(dirname(fileURLToPath(import.meta.url)));
const PLATFORM_PACKAGE = '@liger-mhc/cuda-native-linux-x64-gnu';
const log = (msg) => console.log(`[cuda-native] ${msg}`);

if (process.env.LIGER_MHC_NVCC === 'none') {
  log('LIGER_MHC_NVCC=none: not building the CUDA addon');
  process.exit(0);
}

try {
  const addon = createRequire(import.meta.url).resolve(`${PLATFORM_PACKAGE}/liger_mhc_cuda.node`);
  if (existsSync(addon)) {
    log(`using the prebuilt addon of ${PLATFORM_PACKAGE}`);
    process.exit(0);
  }
} catch {
  // not installed: this platform has no prebuilt package, or optional dependencies were omitted
}

const inWorkspace =
  !pkgDir.split(sep).includes('node_modules') && existsSync(join(pkgDir, '..', '..', 'pnpm-workspace.yaml'));
if (inWorkspace) {
  log(
    'in the workspace: `pnpm build` builds the prebuilt addon (packages/cuda-native-linux-x64-gnu); `pnpm --filter @liger-mhc/cuda-native build:native` builds one for sm_90 only',
  );
  process.exit(0);
}

log(`no prebuilt addon installed (${PLATFORM_PACKAGE} is for Linux x64 with glibc): building from source`);
const r = spawnSync(process.execPath, [join(pkgDir, 'scripts', 'build-native.mjs'), '--optional'], {
  stdio: 'inherit',
});
if (r.status !== 0)
  log('building from source did not succeed; the cuda backend will say why when it is created');
process.exit(0);
