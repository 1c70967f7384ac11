// GPU-machine entry point for the CUDA backend's checks: golden fixtures (tensor-core and CUDA-core
// coeffs paths), generic kernels, determinism / memory / errors, and the core conformance kit.
// Bundled by tooling/gpu/cuda-bundle.sh into .gpu-build/cuda/check.mjs; run from the repo root there:
//   node .gpu-build/cuda/check.mjs <fixturesDir> <outDir>
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runConformance } from '@liger-mhc/core/conformance';
import { createCudaBackend } from '../../packages/cuda-native/src/index.js';
import {
  compareBackends,
  fusedPreChecks,
  runDeviceChecks,
} from '../../packages/cuda-native/test/cases/device-checks.js';
import { runGeneric, runGenericVsCpu } from '../../packages/cuda-native/test/cases/generic.js';
import { runGolden } from '../../packages/cuda-native/test/cases/golden.js';
import type { Check } from '../../packages/cuda-native/test/cases/util.js';

const [fixturesDir = 'packages/core/fixtures/golden', outDir = '.'] = process.argv.slice(2);
const summary: Record<string, unknown> = {};

function report(title: string, checks: Check[]): void {
  const failed = checks.filter((c) => !c.pass);
  const worst = [...checks].sort((a, b) => b.ratio - a.ratio)[0];
  console.log(
    `${title}: ${checks.length - failed.length}/${checks.length} checks pass` +
      (worst ? ` (worst ratio ${worst.ratio.toPrecision(3)}: ${worst.case} ${worst.tensor})` : ''),
  );
  for (const f of failed.slice(0, 40))
    console.log(
      `  FAIL ${f.case} ${f.tensor}: ratio ${f.ratio.toPrecision(3)} maxAbs ${f.maxAbs.toPrecision(3)}`,
    );
  summary[title] = { checks: checks.length, failed: failed.length, failures: failed.slice(0, 200) };
}

async function step(title: string, fn: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  try {
    await fn();
  } catch (e) {
    console.log(`${title}: ERROR ${(e as Error).stack ?? String(e)}`);
    summary[title] = { error: String(e) };
  }
  console.log(`  (${title}: ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

const be = await createCudaBackend();
console.log(`device: ${be.capabilities.device}`);
summary.device = be.capabilities.device;
summary.info = be.info;
await step('golden (tensor-core coeffs)', async () =>
  report('golden (tensor-core coeffs)', await runGolden(be, fixturesDir)),
);
await step('golden (CUDA-core coeffs)', async () => {
  process.env.LIGER_MHC_CUDA_NO_MMA = '1';
  const be2 = await createCudaBackend();
  delete process.env.LIGER_MHC_CUDA_NO_MMA;
  report('golden (CUDA-core coeffs)', await runGolden(be2, fixturesDir));
  be2.dispose();
});
// The fast paths against the fallbacks on larger random layers (more tokens than the fixtures).
for (const [title, env] of [
  ['tensor-core vs CUDA-core coeffs (NO_MMA)', 'LIGER_MHC_CUDA_NO_MMA'],
  ['fused coeffs+pre vs separate kernels (NO_FUSED_PRE)', 'LIGER_MHC_CUDA_NO_FUSED_PRE'],
] as const)
  await step(title, async () => {
    process.env[env] = '1';
    const be2 = await createCudaBackend();
    delete process.env[env];
    report(title, await compareBackends(be, be2, env.replace('LIGER_MHC_CUDA_', '').toLowerCase()));
    be2.dispose();
  });
await step('generic', async () => report('generic', await runGeneric(be)));
await step('generic vs cpu', async () => report('generic vs cpu', await runGenericVsCpu(be)));
await step('fused coeffs+pre', async () => report('fused coeffs+pre', await fusedPreChecks(be)));
await step('device checks', async () => report('device checks', await runDeviceChecks(be)));
await step('conformance', async () => {
  const r = await runConformance({ backend: be, fixturesDir });
  console.log(
    `conformance: ${r.passed} passed, ${r.failed} failed of ${r.cases.length} cases; unknown files: ${r.unknown.length}`,
  );
  for (const f of r.failures.slice(0, 40)) console.log(`  FAIL ${JSON.stringify(f).slice(0, 300)}`);
  summary.conformance = {
    passed: r.passed,
    failed: r.failed,
    cases: r.cases.length,
    failures: r.failures.slice(0, 100),
  };
});
writeFileSync(join(outDir, 'cuda-check.json'), JSON.stringify(summary, null, 1));
be.dispose();
