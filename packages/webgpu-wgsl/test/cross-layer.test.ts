import { defaultXLayerFixturesDir, runConformance } from '@liger-mhc/conformance';
import { hasCrossLayerKernels } from '@liger-mhc/core';
import { afterAll, describe, expect, it } from 'vitest';
import { gpu, skipReason } from './helpers.js';

/**
 * The kit's golden-xlayer cases (the boundary between two mHC sublayers: post_res, then the next
 * coefficients and pre) on this backend. It has no cross-layer kernel yet, so core runs the boundary
 * as its separate post_res, coeffs and pre kernels; the full kit (conformance.test.ts) runs the same
 * cases, this file is the quick check of them alone.
 */
const b = await gpu();
const d = b ? describe : describe.skip;
afterAll(() => b?.dispose());

d(`golden-xlayer cases on webgpu${b ? '' : ` (skipped: ${skipReason()})`}`, () => {
  it('pass with zero failures through the separate kernels', async () => {
    expect(hasCrossLayerKernels(b!)).toBe(false);
    const report = await runConformance({
      backend: b!,
      fixturesDir: defaultXLayerFixturesDir(),
      properties: false,
    });
    const failed = report.failures.map(
      (f) => `${f.case}/${f.tensor}: ratio ${f.ratio}${f.error ? ` ${f.error}` : ''}`,
    );
    expect(failed).toEqual([]);
    expect(report.unknown).toEqual([]);
    // 8 cases in both Sinkhorn save modes.
    expect(report.passed).toBe(8 * 2);
  }, 900_000);
});
