import { formatFailure, runConformance, runDeviceChecks } from '@liger-mhc/conformance';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CudaBackend, createCudaBackend, cudaAvailable } from '../src/index.js';
import { runGeneric, runGenericVsCpu } from './cases/generic.js';
import type { Check } from './cases/util.js';

const avail = cudaAvailable();

function failures(checks: Check[]): string[] {
  return checks.filter((c) => !c.pass).map((c) => `${c.case} ${c.tensor}: ratio ${c.ratio.toPrecision(3)}`);
}

describe.skipIf(!avail.ok)('on a CUDA device', () => {
  let be: CudaBackend;
  beforeAll(async () => {
    be = await createCudaBackend();
  });
  afterAll(() => be?.dispose());

  it('passes the conformance kit (golden cases forward and backward, properties)', async () => {
    const report = await runConformance({ backend: be });
    expect(report.failures.map(formatFailure)).toEqual([]);
    expect(report.passed).toBeGreaterThan(100);
  });

  it('generic kernels match float64 references', async () => {
    expect(failures(await runGeneric(be))).toEqual([]);
  });

  it('generic kernels match the CPU backend', async () => {
    expect(failures(await runGenericVsCpu(be))).toEqual([]);
  });

  it('passes the device checks of the kit (determinism, fused coeffs + pre, memory, errors)', async () => {
    const checks = await runDeviceChecks(be, {
      // Many token ranges in the φ-gradient reduction; odd c (scalar paths) and odd K.
      shapes: [
        [4096, 4, 512],
        [333, 4, 96],
        [50, 3, 17],
        [64, 2, 48],
      ],
      // Every cluster size of the fused kernel (c = 256 .. 4096) and tails of a 16-token tile.
      fusedShapes: [
        [333, 4, 256],
        [4096, 4, 512],
        [50, 4, 1024],
        [77, 4, 2048],
        [1000, 4, 4096],
      ],
      soakShape: [1024, 4, 256],
    });
    expect(checks.filter((c) => !c.pass).map(formatFailure)).toEqual([]);
  });
});
