#!/usr/bin/env node
// Run inside a project that installed the packed tarballs of @liger-mhc/core, @liger-mhc/cuda-native
// and @liger-mhc/cuda-native-linux-x64-gnu (outside the workspace, nvcc not on PATH). Checks that the
// prebuilt addon is the one that loads, and that selecting the cuda backend either works or fails with
// the expected CudaUnavailableError kind, never 'no-addon'.
//   node check-cuda-install.mjs --expect no-driver     (CPU-only CI: no libcuda.so.1)
//   node check-cuda-install.mjs --expect ok            (a machine with a GPU and driver >= 580)
// Exit code 0 when every check holds, 1 otherwise, 2 for bad arguments.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const KINDS = [
  'ok',
  'no-addon',
  'addon-mismatch',
  'no-driver',
  'driver-too-old',
  'no-device',
  'unsupported-device',
];
let expect;
try {
  ({ expect } = parseArgs({ options: { expect: { type: 'string' } }, strict: true }).values);
  if (!KINDS.includes(expect))
    throw new Error(`--expect: expected one of ${KINDS.join(', ')}, got ${expect}`);
} catch (e) {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(2);
}

// Resolve from the project in the working directory, not from this script's location.
const req = createRequire(join(process.cwd(), 'package.json'));
const load = async (name) => import(pathToFileURL(req.resolve(name)).href);
const cuda = await load('@liger-mhc/cuda-native');
const core = await load('@liger-mhc/core');

const failures = [];
const check = (what, ok, detail) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures.push(what);
};

const report = await cuda.cudaDoctor();
console.log(JSON.stringify(report, null, 2));
check('the addon comes from the prebuilt package', report.addon.source === 'prebuilt', report.addon.path);
check(
  'it is the platform package',
  report.addon.packageName === '@liger-mhc/cuda-native-linux-x64-gnu',
  report.addon.packageName,
);
const ownVersion = JSON.parse(
  readFileSync(req.resolve('@liger-mhc/cuda-native/package.json'), 'utf8'),
).version;
check(
  'its version equals @liger-mhc/cuda-native',
  report.addon.version === ownVersion,
  `${report.addon.version}`,
);

// The binary that loaded carries code for every card the platform package promises (read from its
// .nv_fatbin section by the package's own script: no CUDA toolkit needed).
if (report.addon.path) {
  const fatbin = await import(
    pathToFileURL(
      join(dirname(req.resolve('@liger-mhc/cuda-native/package.json')), 'scripts/list-fatbin.mjs'),
    ).href
  );
  try {
    const containers = fatbin.listFatbin(readFileSync(report.addon.path));
    const missing = fatbin.missingTargets(containers, fatbin.PREBUILT_TARGETS);
    const s = fatbin.summarize(containers);
    check(
      `it holds ${fatbin.PREBUILT_TARGETS.join(' ')}`,
      missing.length === 0,
      missing.length ? `missing ${missing.join(' ')}` : `SASS ${s.sass.join(' ')}; PTX ${s.ptx.join(' ')}`,
    );
  } catch (e) {
    check('its GPU code can be listed', false, e instanceof Error ? e.message : String(e));
  }
}

let kind = 'ok';
let message = '';
try {
  const be = await core.setBackend('cuda');
  message = be.capabilities.device;
} catch (e) {
  kind = e instanceof cuda.CudaUnavailableError ? e.kind : `(not a CudaUnavailableError: ${e?.name})`;
  message = e instanceof Error ? e.message : String(e);
}
check(`setBackend('cuda') gives ${expect}`, kind === expect, `${kind}: ${message}`);
check("never 'no-addon'", kind !== 'no-addon');
check('cudaDoctor agrees', (report.errorKind ?? 'ok') === kind, `${report.errorKind}`);

if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
