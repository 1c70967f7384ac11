import { runConformance } from '@liger-mhc/conformance';
import { afterAll, describe, expect, it } from 'vitest';
import { gpu, skipReason } from './helpers.js';

/**
 * The conformance kit (golden cases in both Sinkhorn save modes + properties) on this backend.
 * Few property runs: on lavapipe every random shape (hc, alignment) compiles new kernels; the GPU
 * run (bench/src/webgpu-mhc-bench.ts) uses the kit's default.
 */
const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

d(`conformance kit on webgpu${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  it('passes with zero failures', async () => {
    const report = await runConformance({ backend: b!, propertyRuns: 3 });
    const failed = report.failures.map(
      (f) => `${f.case}/${f.tensor}: ratio ${f.ratio}${f.error ? ` ${f.error}` : ''}`,
    );
    console.log(
      `conformance: ${report.passed} passed, ${report.failed} failed, cases ${report.cases.length}`,
    );
    if (failed.length) console.log(failed.join('\n'));
    expect(failed).toEqual([]);
    expect(report.failed).toBe(0);
    expect(report.passed).toBeGreaterThan(0);
  }, 900_000);
});
