import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaBackend, createCudaBackend, cudaAvailable } from '../src/index.js';
import { runDeviceChecks } from './cases/device-checks.js';
import { runGeneric, runGenericVsCpu } from './cases/generic.js';
import { runGolden } from './cases/golden.js';
import type { Check } from './cases/util.js';

const avail = cudaAvailable();
const fixturesDir = fileURLToPath(new URL('../../core/fixtures/golden', import.meta.url));
const conformanceEntry = fileURLToPath(new URL('../../core/src/conformance/index.ts', import.meta.url));

function failures(checks: Check[]): string[] {
  return checks.filter((c) => !c.pass).map((c) => `${c.case} ${c.tensor}: ratio ${c.ratio.toPrecision(3)}`);
}

describe.skipIf(!avail.ok)('on a CUDA device', () => {
  let be: CudaBackend;
  beforeAll(async () => {
    be = await createCudaBackend();
  });
  afterAll(() => be?.dispose());

  it('mHC kernels match the golden fixtures (forward and backward, both Sinkhorn save modes)', async () => {
    const checks = await runGolden(be, fixturesDir);
    expect(checks.length).toBeGreaterThan(100);
    expect(failures(checks)).toEqual([]);
  });

  it('generic kernels match float64 references', async () => {
    expect(failures(await runGeneric(be))).toEqual([]);
  });

  it('generic kernels match the CPU reference backend', async () => {
    expect(failures(await runGenericVsCpu(be))).toEqual([]);
  });

  it('is deterministic, keeps memory stable and reports errors', async () => {
    expect(failures(await runDeviceChecks(be))).toEqual([]);
  });

  it.skipIf(!existsSync(conformanceEntry))('passes the core conformance kit', async () => {
    const { runConformance } = await import('@liger-mhc/core/conformance');
    const report = await runConformance({ backend: be, fixturesDir });
    expect(report.failures.map((f) => JSON.stringify(f))).toEqual([]);
    expect(report.passed).toBeGreaterThan(0);
  });
});
